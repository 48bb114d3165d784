//! Routes: a direct model, or two through English (`es -> en -> ru`), translated in one call.

use tern::{Output, Settings, Translator};

/// The pivot language of Mozilla's models: every published language pairs with English.
pub const PIVOT: &str = "en";

/// The pairs to chain from `source` to `target`: the direct pair if `has` it, else
/// `source -> en -> target` if `has` both; `None` otherwise.
pub fn plan(
    source: &str,
    target: &str,
    has: &dyn Fn(&str, &str) -> bool,
) -> Option<Vec<(String, String)>> {
    if has(source, target) {
        return Some(vec![(source.to_string(), target.to_string())]);
    }
    let pivot = !source.eq_ignore_ascii_case(PIVOT) && !target.eq_ignore_ascii_case(PIVOT);
    if pivot && has(source, PIVOT) && has(PIVOT, target) {
        return Some(vec![
            (source.to_string(), PIVOT.to_string()),
            (PIVOT.to_string(), target.to_string()),
        ]);
    }
    None
}

/// One model of a route.
pub struct Leg {
    pub source: String,
    pub target: String,
    pub translator: Translator,
}

/// One or two models run one after the other, translating from the first's source to the
/// last's target. `translate(x)` is `second.translate(first.translate(x))`, exactly.
pub struct Route {
    legs: Vec<Leg>,
}

impl Route {
    /// A route of one model whose languages are not named (a file given with `-m`).
    pub fn direct(translator: Translator) -> Self {
        Route {
            legs: vec![Leg {
                source: String::new(),
                target: String::new(),
                translator,
            }],
        }
    }

    /// A route through `legs` (at least one; each leg's target is the next one's source).
    pub fn new(legs: Vec<Leg>) -> Self {
        assert!(!legs.is_empty(), "a route has at least one model");
        Route { legs }
    }

    pub fn legs(&self) -> &[Leg] {
        &self.legs
    }

    /// The first model (its settings and plan are the route's).
    pub fn first(&self) -> &Translator {
        &self.legs[0].translator
    }

    /// The languages in order: `["es", "en", "ru"]`.
    pub fn languages(&self) -> Vec<&str> {
        let mut v = vec![self.legs[0].source.as_str()];
        v.extend(self.legs.iter().map(|l| l.target.as_str()));
        v
    }

    /// `es -> en -> ru`.
    pub fn describe(&self) -> String {
        self.languages().join(" -> ")
    }

    /// True if the route goes through English.
    pub fn is_pivot(&self) -> bool {
        self.legs.len() > 1
    }

    /// The same settings (beam, limits, batch) for every model.
    pub fn with_settings(self, settings: Settings) -> Self {
        Route {
            legs: self
                .legs
                .into_iter()
                .map(|l| Leg {
                    translator: l.translator.with_settings(settings.clone()),
                    ..l
                })
                .collect(),
        }
    }

    /// Translates one line through every model.
    pub fn translate(&self, text: &str) -> Result<String, tern::Error> {
        let mut text = text.to_string();
        for leg in &self.legs {
            text = leg.translator.translate(&text)?;
        }
        Ok(text)
    }

    /// Translates many lines on `threads` threads, model after model; results keep the input
    /// order, a line that fails in one model fails (its error kept), `truncated` if any model
    /// cut it.
    pub fn translate_batch<S: AsRef<str> + Sync>(
        &self,
        lines: &[S],
        threads: usize,
    ) -> Vec<Result<Output, tern::Error>> {
        let mut out = self.legs[0].translator.translate_batch(lines, threads);
        for leg in &self.legs[1..] {
            let ok: Vec<&str> = out
                .iter()
                .filter_map(|r| r.as_ref().ok().map(|o| o.text.as_str()))
                .collect();
            let mut next = leg.translator.translate_batch(&ok, threads).into_iter();
            out = out
                .into_iter()
                .map(|r| {
                    let first = r?;
                    let second = next.next().unwrap_or_else(|| {
                        Err(tern::Error::Model(tern_core_error("worker thread failed")))
                    })?;
                    Ok(Output {
                        text: second.text,
                        truncated: first.truncated || second.truncated,
                    })
                })
                .collect();
        }
        out
    }

    /// Sessions over every model: one workspace each, reused line after line.
    pub fn session(&self) -> RouteSession<'_> {
        RouteSession {
            sessions: self.legs.iter().map(|l| l.translator.session()).collect(),
        }
    }
}

fn tern_core_error(what: &'static str) -> tern::tern_core::Error {
    tern::tern_core::Error::BadLimit(what)
}

/// [`Route::session`].
pub struct RouteSession<'t> {
    sessions: Vec<tern::Session<'t>>,
}

impl RouteSession<'_> {
    /// Translates one line through every model.
    pub fn translate(&mut self, text: &str) -> Result<Output, tern::Error> {
        let mut out = Output {
            text: text.to_string(),
            truncated: false,
        };
        for s in &mut self.sessions {
            let o = s.translate(&out.text)?;
            out = Output {
                text: o.text,
                truncated: out.truncated || o.truncated,
            };
        }
        Ok(out)
    }

    /// Translates one line, handing the last model's text to `on_piece` as it is decoded
    /// (the models before it translate the whole line first).
    pub fn translate_stream(
        &mut self,
        text: &str,
        on_piece: &mut dyn FnMut(&str),
    ) -> Result<Output, tern::Error> {
        let (last, before) = self
            .sessions
            .split_last_mut()
            .expect("a route has at least one model");
        let mut text = text.to_string();
        let mut truncated = false;
        for s in before {
            let o = s.translate(&text)?;
            text = o.text;
            truncated |= o.truncated;
        }
        let o = last.translate_stream(&text, on_piece)?;
        Ok(Output {
            text: o.text,
            truncated: truncated || o.truncated,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans() {
        let pairs = [("es", "en"), ("en", "ru"), ("en", "es"), ("de", "fr")];
        let has = |s: &str, t: &str| pairs.contains(&(s, t));
        assert_eq!(plan("es", "en", &has).unwrap().len(), 1);
        let p = plan("es", "ru", &has).unwrap();
        assert_eq!(
            p,
            vec![("es".into(), "en".into()), ("en".into(), "ru".into())]
        );
        assert_eq!(plan("de", "fr", &has).unwrap().len(), 1);
        assert!(plan("ru", "es", &has).is_none());
        assert!(plan("fr", "de", &has).is_none());
    }
}
