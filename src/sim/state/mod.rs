//! The simulator's shared state: the world, the knobs (each fake's own in a file here), the
//! fakes' run-time state (tokens, counted knobs, windows), counters and the request log. Below
//! every faked API, above the world and the kit.

pub(crate) mod entra_options;
pub(crate) mod entra_runtime;
pub(crate) mod okta_options;
pub(crate) mod okta_runtime;
pub(crate) mod options;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use super::kit::faults::{Api, FaultEngine};
use super::kit::log::LoggedRequest;
use super::world::World;
use entra_runtime::EntraRuntime;
use okta_runtime::OktaRuntime;
use options::SimOptions;

/// Everything the routes share. Locks are never held across an `.await`.
pub(crate) struct SimState {
    world: RwLock<World>,
    options: RwLock<SimOptions>,
    engine: Mutex<FaultEngine>,
    quota: Mutex<QuotaWindow>,
    counters: [AtomicU64; Api::ALL.len()],
    entra: Mutex<EntraRuntime>,
    okta: Mutex<OktaRuntime>,
    log: Mutex<Vec<LoggedRequest>>,
    /// `http://127.0.0.1:PORT`, for SCIM `meta.location`.
    pub base_url: String,
    /// Keys the accounts cursors of this server.
    pub cursor_key: u64,
}

/// The admin API quota window.
pub(crate) struct QuotaWindow {
    started: Instant,
    used: u32,
}

/// The quota as reported in `X-RateLimit-*`.
pub(crate) struct QuotaStatus {
    pub limit: u32,
    pub remaining: u32,
    pub reset_in: Duration,
    pub exceeded: bool,
}

impl SimState {
    pub(crate) fn new(world: World, options: SimOptions, base_url: String) -> Self {
        Self {
            world: RwLock::new(world),
            engine: Mutex::new(FaultEngine::new(options.faults.clone())),
            options: RwLock::new(options),
            quota: Mutex::new(QuotaWindow {
                started: Instant::now(),
                used: 0,
            }),
            counters: Default::default(),
            entra: Mutex::new(EntraRuntime::default()),
            okta: Mutex::new(OktaRuntime::default()),
            log: Mutex::new(Vec::new()),
            base_url,
            cursor_key: rand::random(),
        }
    }

    pub(crate) fn world(&self) -> RwLockReadGuard<'_, World> {
        self.world.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn world_mut(&self) -> RwLockWriteGuard<'_, World> {
        self.world.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn options(&self) -> RwLockReadGuard<'_, SimOptions> {
        self.options.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies `f` to the options; changed faults restart the fault counters, changed Entra
    /// options the Entra counted knobs.
    pub(crate) fn update_options(&self, f: impl FnOnce(&mut SimOptions)) {
        let mut options = self.options.write().unwrap_or_else(PoisonError::into_inner);
        let entra_before = options.entra.clone();
        let okta_before = options.okta.clone();
        f(&mut options);
        let mut engine = self.engine();
        if engine.faults() != &options.faults {
            *engine = FaultEngine::new(options.faults.clone());
        }
        if options.entra != entra_before {
            self.entra().restart_counters();
        }
        if options.okta != okta_before {
            self.okta().restart_counters();
        }
    }

    /// The Entra run-time state (tokens, counted knobs, windows).
    pub(crate) fn entra(&self) -> MutexGuard<'_, EntraRuntime> {
        self.entra.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The Okta run-time state (tokens, counted knobs).
    pub(crate) fn okta(&self) -> MutexGuard<'_, OktaRuntime> {
        self.okta.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn engine(&self) -> MutexGuard<'_, FaultEngine> {
        self.engine.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn count(&self, api: Api) {
        self.counters[api.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn request_count(&self, api: Api) -> u64 {
        self.counters[api.index()].load(Ordering::Relaxed)
    }

    pub(crate) fn record(&self, entry: LoggedRequest) {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(entry);
    }

    pub(crate) fn requests(&self) -> Vec<LoggedRequest> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Takes one admin request from the quota.
    pub(crate) fn take_quota(&self) -> QuotaStatus {
        let (limit, window) = {
            let options = self.options();
            (options.quota_limit, options.quota_window)
        };
        let mut quota = self.quota.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if now.duration_since(quota.started) >= window {
            *quota = QuotaWindow {
                started: now,
                used: 0,
            };
        }
        let exceeded = quota.used >= limit;
        if !exceeded {
            quota.used += 1;
        }
        QuotaStatus {
            limit,
            remaining: limit.saturating_sub(quota.used),
            reset_in: window.saturating_sub(now.duration_since(quota.started)),
            exceeded,
        }
    }
}
