//! Prometheus helpers: each metric is created and registered in one call,
//! and labelled counters take an enum, so a label value is one of a fixed
//! set (never a member id or an indicator) and every series exists from
//! the start (dashboards see zeros, not gaps).

use std::marker::PhantomData;

use prometheus::{
    exponential_buckets, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry,
};

/// A set of label values, each spelled once.
pub trait Label: Copy + 'static {
    /// The label's name (`outcome`, `reason`).
    const NAME: &'static str;
    /// Every value, created up front.
    const ALL: &'static [Self];
    fn as_str(self) -> &'static str;
}

/// A counter with one label drawn from `L`.
#[derive(Clone)]
pub struct LabelledCounter<L: Label> {
    vec: IntCounterVec,
    _label: PhantomData<L>,
}

impl<L: Label> LabelledCounter<L> {
    pub fn inc(&self, label: L) {
        self.inc_by(label, 1);
    }
    pub fn inc_by(&self, label: L, n: u64) {
        self.vec.with_label_values(&[label.as_str()]).inc_by(n);
    }
    pub fn get(&self, label: L) -> u64 {
        self.vec.with_label_values(&[label.as_str()]).get()
    }
}

/// Creates metrics on one registry, registering each as it is made.
pub struct Registrar<'r> {
    registry: &'r Registry,
}

impl<'r> Registrar<'r> {
    pub fn new(registry: &'r Registry) -> Registrar<'r> {
        Registrar { registry }
    }

    /// Registers any collector (two-label vectors and the like) and hands
    /// it back.
    pub fn register<M: prometheus::core::Collector + Clone + 'static>(
        &self,
        m: M,
    ) -> prometheus::Result<M> {
        self.registry.register(Box::new(m.clone()))?;
        Ok(m)
    }

    pub fn counter(&self, name: &str, help: &str) -> prometheus::Result<IntCounter> {
        self.register(IntCounter::new(name, help)?)
    }

    pub fn gauge(&self, name: &str, help: &str) -> prometheus::Result<IntGauge> {
        self.register(IntGauge::new(name, help)?)
    }

    /// A counter labelled by `L`, every value's series created.
    pub fn labelled<L: Label>(
        &self,
        name: &str,
        help: &str,
    ) -> prometheus::Result<LabelledCounter<L>> {
        let vec = self.register(IntCounterVec::new(Opts::new(name, help), &[L::NAME])?)?;
        for l in L::ALL {
            vec.with_label_values(&[l.as_str()]);
        }
        Ok(LabelledCounter {
            vec,
            _label: PhantomData,
        })
    }

    /// A counter whose label values are open-ended but bounded by the
    /// caller (dead-letter reason codes come from a fixed set in the
    /// model).
    pub fn counter_vec(
        &self,
        name: &str,
        help: &str,
        label: &str,
    ) -> prometheus::Result<IntCounterVec> {
        self.register(IntCounterVec::new(Opts::new(name, help), &[label])?)
    }

    /// A histogram of 16 doubling buckets from `start`.
    pub fn histogram(&self, name: &str, help: &str, start: f64) -> prometheus::Result<Histogram> {
        self.register(Histogram::with_opts(
            HistogramOpts::new(name, help).buckets(exponential_buckets(start, 2.0, 16)?),
        )?)
    }
}

/// The registry in Prometheus' text format.
pub fn render(registry: &Registry) -> String {
    use prometheus::Encoder as _;
    let mut buf = Vec::new();
    let _ = prometheus::TextEncoder::new().encode(&registry.gather(), &mut buf);
    String::from_utf8(buf).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[derive(Clone, Copy)]
    enum Colour {
        Red,
        Blue,
    }

    impl Label for Colour {
        const NAME: &'static str = "colour";
        const ALL: &'static [Colour] = &[Colour::Red, Colour::Blue];
        fn as_str(self) -> &'static str {
            match self {
                Colour::Red => "red",
                Colour::Blue => "blue",
            }
        }
    }

    #[test]
    fn metrics_are_registered_as_made_and_labels_exist_from_the_start() {
        let registry = Registry::new();
        let r = Registrar::new(&registry);
        let c = r.labelled::<Colour>("t_things_total", "things").unwrap();
        c.inc(Colour::Red);
        let text = render(&registry);
        assert!(text.contains("t_things_total{colour=\"red\"} 1"), "{text}");
        assert!(text.contains("t_things_total{colour=\"blue\"} 0"), "{text}");
        // A second metric of the same name is refused, not silently shadowed.
        assert!(r.counter("t_things_total", "again").is_err());
    }
}
