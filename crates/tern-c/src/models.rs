//! Models by language (host build): Firefox's catalogue through tern's cache, as `tern
//! translate --from en --to es` uses it (`crates/tern-models`). A route is one model, or two
//! through English when no direct one exists; translating through it is one call.
//!
//! Thread safety: a `TernRoute` is immutable and shared by any number of threads.

use crate::host::{c_string, fail_host, settings, text, TernSettings};
use crate::status::{fail, guard, TernStatus};
use core::ffi::c_char;
use std::boxed::Box;
use std::string::ToString;

/// Where models come from. NULL strings take the defaults of the `tern` CLI.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct TernModelsOptions {
    /// The cache directory (default `$TERN_CACHE_DIR`, else the platform's cache directory).
    pub cache_dir: *const c_char,
    /// The catalogue's records URL (default `$TERN_CATALOGUE`, else Mozilla's).
    pub catalogue: *const c_char,
    /// Non-zero: never use the network, only cached models.
    pub offline: i32,
}

/// A way from one language to another: one model, or two through English. Freed with
/// `tern_route_free`.
pub struct TernRoute {
    route: tern_models::Route,
}

const _: fn() = || {
    fn shared<T: Send + Sync>() {}
    shared::<TernRoute>();
};

/// Options with every field at its default (NULL / 0).
#[no_mangle]
pub extern "C" fn tern_models_options_default() -> TernModelsOptions {
    TernModelsOptions {
        cache_dir: core::ptr::null(),
        catalogue: core::ptr::null(),
        offline: 0,
    }
}

fn fail_models(e: &tern_models::Error) -> TernStatus {
    use tern_models::Error as E;
    match e {
        E::Translate(t) => fail_host(t),
        E::Model { .. } | E::Convert { .. } => fail(TernStatus::BadModel, e),
        E::Io { .. } => fail(TernStatus::Io, e),
        E::Offline { .. } | E::NoPair { .. } | E::NoRoute { .. } => fail(TernStatus::Language, e),
        _ => fail(TernStatus::Failed, e),
    }
}

/// Opens the route from `source` to `target` (language codes as Firefox names them: "en",
/// "es"): cached models, else fetched from the catalogue (checked, converted, cached), else
/// through English. `options` and `settings` may be NULL (defaults). On success `*route` is
/// freed by the caller with `tern_route_free`. No route, or offline without the models:
/// `TERN_STATUS_LANGUAGE`, the message saying which models are missing.
///
/// # Safety
/// `source`, `target` NUL-terminated; `options` and `settings` NULL or valid (their strings
/// NULL or NUL-terminated); `route` valid for writes.
#[no_mangle]
pub unsafe extern "C" fn tern_route_open(
    source: *const c_char,
    target: *const c_char,
    options: *const TernModelsOptions,
    settings: *const TernSettings,
    route: *mut *mut TernRoute,
) -> TernStatus {
    guard(|| {
        if route.is_null() {
            return fail(TernStatus::NullArgument, "route is NULL");
        }
        // SAFETY: caller's contract.
        let (source, target) = match unsafe { (text(source, "source"), text(target, "target")) } {
            (Ok(s), Ok(t)) => (s, t),
            (Err(s), _) | (_, Err(s)) => return s,
        };
        let o = if options.is_null() {
            tern_models_options_default()
        } else {
            // SAFETY: not NULL, valid for reads (caller's contract).
            unsafe { *options }
        };
        let optional = |p: *const c_char, what| {
            if p.is_null() {
                Ok(None)
            } else {
                // SAFETY: NUL-terminated (caller's contract).
                unsafe { text(p, what) }.map(|t| Some(t.to_string()))
            }
        };
        let (cache_dir, catalogue) = match (
            optional(o.cache_dir, "cache_dir"),
            optional(o.catalogue, "catalogue"),
        ) {
            (Ok(c), Ok(u)) => (c, u),
            (Err(s), _) | (_, Err(s)) => return s,
        };
        // SAFETY: caller's contract.
        let (settings, _threads) = match unsafe { self::settings(settings) } {
            Ok(s) => s,
            Err(status) => return status,
        };
        let models = tern_models::Models::new(tern_models::Options {
            catalogue,
            cache_dir: cache_dir.map(Into::into),
            offline: o.offline != 0,
            ..Default::default()
        });
        let opened = models.and_then(|m| m.open(source, target));
        match opened {
            Ok(r) => {
                let handle = Box::new(TernRoute {
                    route: r.with_settings(settings),
                });
                // SAFETY: `route` is not NULL and valid for writes (caller's contract).
                unsafe { *route = Box::into_raw(handle) };
                TernStatus::Ok
            }
            Err(e) => fail_models(&e),
        }
    })
}

/// The route's languages, as "es -> en -> ru": a new string the caller frees with
/// `tern_string_free`.
///
/// # Safety
/// `route` from `tern_route_open`, not freed; `out` valid for writes.
#[no_mangle]
pub unsafe extern "C" fn tern_route_describe(
    route: *const TernRoute,
    out: *mut *mut c_char,
) -> TernStatus {
    guard(|| {
        if route.is_null() || out.is_null() {
            return fail(TernStatus::NullArgument, "route or out is NULL");
        }
        // SAFETY: a live handle (caller's contract); `out` valid for writes.
        unsafe { *out = c_string((*route).route.describe()) };
        TernStatus::Ok
    })
}

/// Translates one line through the route (each model in turn). On success `*out` is a new
/// string the caller frees with `tern_string_free`; on failure NULL.
///
/// # Safety
/// `route` from `tern_route_open`, not freed; `text` NUL-terminated; `out` valid for writes.
#[no_mangle]
pub unsafe extern "C" fn tern_route_translate(
    route: *const TernRoute,
    text: *const c_char,
    out: *mut *mut c_char,
) -> TernStatus {
    guard(|| {
        if route.is_null() || out.is_null() {
            return fail(TernStatus::NullArgument, "route or out is NULL");
        }
        // SAFETY: `out` is valid for writes (caller's contract).
        unsafe { *out = core::ptr::null_mut() };
        // SAFETY: caller's contract.
        let text = match unsafe { self::text(text, "text") } {
            Ok(t) => t,
            Err(s) => return s,
        };
        // SAFETY: a live handle, shared read-only (caller's contract).
        match unsafe { &(*route).route }.translate(text) {
            Ok(t) => {
                // SAFETY: as above.
                unsafe { *out = c_string(t) };
                TernStatus::Ok
            }
            Err(e) => fail_host(&e),
        }
    })
}

/// Frees a route. NULL is ignored.
///
/// # Safety
/// `route` from `tern_route_open`, not freed before, not used after.
#[no_mangle]
pub unsafe extern "C" fn tern_route_free(route: *mut TernRoute) {
    let _ = guard(|| {
        if !route.is_null() {
            // SAFETY: a pointer from `Box::into_raw` in `tern_route_open`, freed once.
            drop(unsafe { Box::from_raw(route) });
        }
        TernStatus::Ok
    });
}
