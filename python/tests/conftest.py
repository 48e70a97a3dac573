"""Shared fixtures of the Python package's tests (run them with python/run_tests.sh)."""

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / 'models'
FIXTURES = ROOT / 'tests' / 'fixtures'


def cli_path():
    """The rtl4ml command line: $RTL4ML_BIN, else the repository's release build."""
    env = os.environ.get('RTL4ML_BIN')
    if env:
        return Path(env)
    return ROOT / 'target' / 'release' / 'rtl4ml'


@pytest.fixture(scope='session')
def cli():
    """Runs the rtl4ml command line; returns the CompletedProcess (text output)."""
    exe = cli_path()
    if not exe.is_file():
        if os.environ.get('RTL4ML_PY_REQUIRE_CLI') == '1':
            pytest.fail(f'{exe} is missing: build it with `cargo build --release --bin rtl4ml`')
        pytest.skip(f'{exe} is missing: build it with `cargo build --release --bin rtl4ml` '
                    '(or set RTL4ML_BIN) to compare with the command line')

    def run(*args, cwd=None, check=True):
        r = subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, cwd=cwd)
        if check and r.returncode != 0:
            raise AssertionError(f'rtl4ml {" ".join(map(str, args))} failed:\n{r.stderr}')
        return r

    return run


@pytest.fixture(scope='session')
def cli_sim(cli, tmp_path_factory):
    """`rtl4ml sim MODEL --input X [--raw]` on an array: the output array."""
    d = tmp_path_factory.mktemp('cli_sim')
    counter = [0]

    def sim(model, x, raw=False):
        counter[0] += 1
        xin, yout = d / f'x{counter[0]}.npy', d / f'y{counter[0]}.npy'
        np.save(xin, x)
        cli('sim', model, '--input', xin, '--output', yout, *(['--raw'] if raw else []))
        return np.load(yout)

    return sim


def bundled_models():
    return sorted(p for p in MODELS.glob('*.json'))


def calib_for(model_path):
    p = MODELS / 'calib' / f'{Path(model_path).stem}.npy'
    return np.load(p) if p.is_file() else None


def have(tool):
    return shutil.which(tool) is not None


def pytest_sessionfinish(session, exitstatus):
    """A run that passed no test at all is a failure (everything skipped or deselected)."""
    reporter = session.config.pluginmanager.get_plugin('terminalreporter')
    passed = len(reporter.stats.get('passed', [])) if reporter else 0
    if exitstatus == 0 and passed == 0:
        session.exitstatus = 1
