//! Loading lookup tables (sigmoid, tanh, exp) and the softmax from the native model format.

use super::{Loader, Obj};
use crate::error::Result;
use crate::ir::fixed::{f64_to_mantissa, FixedType};
use crate::ir::layers::{LayerGraph, LayerKind, TableFn, TableIndex};
use serde_json::Value;

impl Loader<'_> {
    pub(super) fn layer_sigmoid_tanh(
        &self,
        k: &str,
        o: &Obj,
        input: usize,
        g: &LayerGraph,
        place: &str,
    ) -> Result<(LayerKind, Vec<usize>, FixedType)> {
        let x = g.tensor(input);

        self.check_keys(
            o,
            &["name", "kind", "input", "table", "input_range", "result"],
            place,
        )?;
        let function = if k == "sigmoid" {
            TableFn::Sigmoid
        } else {
            TableFn::Tanh
        };
        let rp = Self::fp(place, "input_range");
        let range_log2 = match o.get("input_range") {
            None | Some(Value::Null) => {
                if k == "sigmoid" {
                    4
                } else {
                    3
                }
            }
            Some(v) => {
                let r = v
                    .as_f64()
                    .and_then(|f| f64_to_mantissa(f).ok())
                    .filter(|&(m, _)| m > 0)
                    .map(|(m, f)| (m >> m.trailing_zeros(), f - m.trailing_zeros() as i32))
                    .filter(|&(m, f)| m == 1 && (-20..=20).contains(&f));
                match r {
                    Some((_, f)) => -f,
                    None => {
                        return Err(self.err(
                            &rp,
                            format!("expected a power of two from 2^-20 to 2^20, found {v}"),
                        ))
                    }
                }
            }
        };
        let (table, bits) =
            self.table(o, "table", 16, "tables are limited to 2^16 entries", place)?;
        let index = TableIndex::Range {
            size_log2: bits,
            range_log2,
        };
        let table = self.fill(table, function, index, &x.ty);
        let ty = self.ty(o, "result", place)?;
        Ok((
            LayerKind::Table {
                function,
                index,
                table,
            },
            x.shape.clone(),
            ty,
        ))
    }

    pub(super) fn layer_exp(
        &self,
        _k: &str,
        o: &Obj,
        input: usize,
        g: &LayerGraph,
        place: &str,
    ) -> Result<(LayerKind, Vec<usize>, FixedType)> {
        let x = g.tensor(input);

        self.check_keys(o, &["name", "kind", "input", "table", "result"], place)?;
        let xty = x.ty;
        let why = format!(
            "the index is the top bits of the input type {xty}, which has only {}",
            xty.width
        );
        let (table, bits) = self.table(o, "table", xty.width, &why, place)?;
        let index = TableIndex::TopBits { bits };
        let table = self.fill(table, TableFn::Exp, index, &xty);
        let ty = self.ty(o, "result", place)?;
        Ok((
            LayerKind::Table {
                function: TableFn::Exp,
                index,
                table,
            },
            x.shape.clone(),
            ty,
        ))
    }

    pub(super) fn layer_softmax(
        &self,
        _k: &str,
        o: &Obj,
        input: usize,
        g: &LayerGraph,
        place: &str,
    ) -> Result<(LayerKind, Vec<usize>, FixedType)> {
        let x = g.tensor(input);

        self.check_keys(
            o,
            &["name", "kind", "input", "exp_table", "inv_table", "result"],
            place,
        )?;
        let xty = x.ty;
        let why = format!(
            "the index is the top bits of the input type {xty}, which has only {}",
            xty.width
        );
        let (exp_table, eb) = self.table(o, "exp_table", xty.width, &why, place)?;
        let exp_table = self.fill(
            exp_table,
            TableFn::Exp,
            TableIndex::TopBits { bits: eb },
            &xty,
        );
        let ety = exp_table.ty;
        let why = format!(
            "the index is the top bits of the sum, of the exp table type {ety}, which has only {}",
            ety.width
        );
        let (inv_table, ib) = self.table(o, "inv_table", ety.width, &why, place)?;
        let inv_table = self.fill(
            inv_table,
            TableFn::Inv,
            TableIndex::TopBits { bits: ib },
            &ety,
        );
        let ty = self.ty(o, "result", place)?;
        Ok((
            LayerKind::Softmax {
                exp_table,
                inv_table,
            },
            x.shape.clone(),
            ty,
        ))
    }
}
