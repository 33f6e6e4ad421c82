//! Routing table: which agent gets a message.
//!
//! The table is an immutable [`Snapshot`] behind an [`ArcSwap`]: readers load it without taking a
//! lock and always see one whole configuration. Writers serialize on a mutex, build the next
//! snapshot from the current one and swap it in. The parts that change on the hot path (round-robin
//! cursors and agent loads) are atomics shared by consecutive snapshots, so a swap never resets or
//! loses them.
//!
//! Selection, for a capability:
//! - agents are grouped in tiers by priority; the highest tier with an eligible (not excluded)
//!   agent is used, lower tiers only when every agent above is excluded;
//! - `RoundRobin` hands out tickets from a per-capability counter; a tier of total weight `W`
//!   maps any `W` consecutive tickets onto each agent exactly `weight` times, interleaved;
//! - `LeastLoaded` picks the lowest `load / weight` in that tier, ties going to the smallest id.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;

use crate::error::{Error, Result};

/// The CloudEvents extension attribute that names the one agent a message is for.
pub const TARGET_AGENT_ATTRIBUTE: &str = "targetagent";
/// Default attribute naming the capability a message falls back to when no rule matches.
pub const DEFAULT_CAPABILITY_ATTRIBUTE: &str = "targetcapability";

/// How an agent is chosen among those offering a capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    RoundRobin,
    LeastLoaded,
}

impl Strategy {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "round_robin" => Ok(Strategy::RoundRobin),
            "least_loaded" => Ok(Strategy::LeastLoaded),
            other => Err(Error::validation(
                "strategy",
                format!("unknown strategy {other:?}, expected \"round_robin\" or \"least_loaded\""),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::RoundRobin => "round_robin",
            Strategy::LeastLoaded => "least_loaded",
        }
    }
}

/// An agent as given by a caller; validated by the table. Integers are signed so that a negative
/// value is reported as a validation error rather than lost in a conversion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSpec {
    pub id: String,
    pub capabilities: Vec<String>,
    pub priority: i64,
    pub weight: i64,
    /// `None` keeps the agent's current load (0 for a new agent).
    pub load: Option<i64>,
}

/// An agent as stored, with its load at the time of reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentInfo {
    pub id: String,
    pub capabilities: Vec<String>,
    pub priority: i64,
    pub weight: u64,
    pub load: u64,
}

/// A named rule as given by a caller: every `(attribute, pattern)` must match, then `target`
/// (`"agent:ID"` or `"capability:NAME"`) is tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    pub name: String,
    pub matches: Vec<(String, String)>,
    pub target: String,
}

#[derive(Debug)]
struct Agent {
    id: Arc<str>,
    capabilities: Box<[Arc<str>]>,
    priority: i64,
    weight: u64,
    load: Arc<AtomicU64>,
}

impl Agent {
    fn info(&self) -> AgentInfo {
        AgentInfo {
            id: self.id.to_string(),
            capabilities: self.capabilities.iter().map(|c| c.to_string()).collect(),
            priority: self.priority,
            weight: self.weight,
            load: self.load.load(Ordering::Relaxed),
        }
    }
}

/// Agents of one priority for one capability, sorted by id.
#[derive(Debug)]
struct Tier {
    agents: Box<[Arc<Agent>]>,
    /// `ends[i]` is the cumulative weight of `agents[..=i]`.
    ends: Box<[u64]>,
    total: u64,
    stride: u64,
}

#[derive(Debug)]
struct Pool {
    /// Highest priority first.
    tiers: Box<[Tier]>,
    cursor: Arc<AtomicU64>,
}

#[derive(Debug)]
enum Pattern {
    Exact(String),
    /// The pattern split at `*`: first part is a prefix, last a suffix, the rest in order between.
    Glob(Vec<String>),
}

impl Pattern {
    fn compile(text: &str) -> Self {
        if text.contains('*') {
            Pattern::Glob(text.split('*').map(str::to_owned).collect())
        } else {
            Pattern::Exact(text.to_owned())
        }
    }

    fn matches(&self, value: &str) -> bool {
        match self {
            Pattern::Exact(text) => text == value,
            Pattern::Glob(parts) => glob_match(parts, value),
        }
    }
}

fn glob_match(parts: &[String], value: &str) -> bool {
    let (Some(prefix), Some(suffix)) = (parts.first(), parts.last()) else {
        return false;
    };
    if value.len() < prefix.len() + suffix.len() || !value.starts_with(prefix.as_str()) {
        return false;
    }
    if !value.ends_with(suffix.as_str()) {
        return false;
    }
    // Leftmost matching of each middle part is enough when the only wildcard is `*`.
    let mut rest = &value[prefix.len()..value.len() - suffix.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part.as_str()) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Agent(String),
    Capability(String),
}

impl Target {
    fn parse(text: &str) -> Result<Self> {
        let (kind, name) = text.split_once(':').ok_or_else(|| {
            Error::validation("target", format!("{text:?} must be \"agent:ID\" or \"capability:NAME\""))
        })?;
        if name.is_empty() {
            return Err(Error::validation("target", format!("{text:?} names no {kind}")));
        }
        match kind {
            "agent" => Ok(Target::Agent(name.to_owned())),
            "capability" => Ok(Target::Capability(name.to_owned())),
            _ => Err(Error::validation("target", format!("{text:?} must start with \"agent:\" or \"capability:\""))),
        }
    }
}

#[derive(Debug)]
struct Rule {
    spec: RuleSpec,
    matchers: Vec<(String, Pattern)>,
    target: Target,
}

impl Rule {
    fn compile(spec: RuleSpec) -> Result<Self> {
        if spec.name.is_empty() {
            return Err(Error::validation("name", "rule name must not be empty"));
        }
        let mut matchers = Vec::with_capacity(spec.matches.len());
        for (attribute, pattern) in &spec.matches {
            check_attribute_name(attribute, &format!("match.{attribute}"))?;
            matchers.push((attribute.clone(), Pattern::compile(pattern)));
        }
        let target = Target::parse(&spec.target)?;
        Ok(Rule { spec, matchers, target })
    }
}

/// CloudEvents attribute names are lower-case ASCII letters and digits.
fn check_attribute_name(name: &str, path: &str) -> Result<()> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
        return Err(Error::validation(
            path,
            format!("{name:?} is not a CloudEvents attribute name (lower-case letters and digits)"),
        ));
    }
    Ok(())
}

/// One whole, immutable configuration of the table.
#[derive(Debug, Default)]
struct Snapshot {
    agents: HashMap<Arc<str>, Arc<Agent>>,
    // Looked up on every route; capability names are short, where the default hasher's setup dominates.
    pools: HashMap<Arc<str>, Pool, foldhash::fast::RandomState>,
    rules: Vec<Arc<Rule>>,
}

impl Snapshot {
    /// Indexes `agents` by capability, keeping the cursors of capabilities that already existed.
    fn build(agents: HashMap<Arc<str>, Arc<Agent>>, rules: Vec<Arc<Rule>>, previous: &Snapshot) -> Self {
        let mut grouped: HashMap<Arc<str>, Vec<Arc<Agent>>> = HashMap::new();
        for agent in agents.values() {
            for capability in agent.capabilities.iter() {
                grouped.entry(capability.clone()).or_default().push(agent.clone());
            }
        }
        let pools = grouped
            .into_iter()
            .map(|(capability, mut members)| {
                members.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.id.cmp(&b.id)));
                let tiers =
                    members.chunk_by(|a, b| a.priority == b.priority).map(|chunk| Tier::new(chunk.to_vec())).collect();
                let cursor = previous
                    .pools
                    .get(&capability)
                    .map_or_else(|| Arc::new(AtomicU64::new(0)), |pool| pool.cursor.clone());
                (capability, Pool { tiers, cursor })
            })
            .collect();
        Snapshot { agents, pools, rules }
    }

    fn route(&self, capability: &str, strategy: Strategy, exclude: &[&str]) -> Option<&Arc<Agent>> {
        let pool = self.pools.get(capability)?;
        if exclude.is_empty() {
            let tier = pool.tiers.first()?;
            return Some(match strategy {
                Strategy::RoundRobin => tier.pick(pool.cursor.fetch_add(1, Ordering::Relaxed)),
                Strategy::LeastLoaded => least_loaded(tier.agents.iter())?,
            });
        }
        let eligible = |agent: &&Arc<Agent>| !exclude.contains(&&*agent.id);
        let tier = pool.tiers.iter().find(|tier| tier.agents.iter().any(|a| eligible(&a)))?;
        match strategy {
            Strategy::RoundRobin => {
                let members: Vec<&Arc<Agent>> = tier.agents.iter().filter(eligible).collect();
                let total: u64 = members.iter().map(|a| a.weight).sum();
                let slot = spread_slot(pool.cursor.fetch_add(1, Ordering::Relaxed), total, stride_for(total));
                let mut end = 0;
                members.into_iter().find(|a| {
                    end += a.weight;
                    slot < end
                })
            }
            Strategy::LeastLoaded => least_loaded(tier.agents.iter().filter(eligible)),
        }
    }

    fn route_message<F, S>(&self, attribute: &mut F, strategy: Strategy, fallback: &str) -> Result<Option<Arc<str>>>
    where
        F: FnMut(&str) -> Result<Option<S>>,
        S: AsRef<str>,
    {
        if let Some(target) = attribute(TARGET_AGENT_ATTRIBUTE)? {
            return Ok(self.agents.get(target.as_ref()).map(|agent| agent.id.clone()));
        }
        'rules: for rule in &self.rules {
            for (name, pattern) in &rule.matchers {
                match attribute(name)? {
                    Some(value) if pattern.matches(value.as_ref()) => {}
                    _ => continue 'rules,
                }
            }
            let chosen = match &rule.target {
                Target::Agent(id) => self.agents.get(id.as_str()),
                Target::Capability(capability) => self.route(capability, strategy, &[]),
            };
            if let Some(agent) = chosen {
                return Ok(Some(agent.id.clone()));
            }
        }
        Ok(match attribute(fallback)? {
            Some(capability) => self.route(capability.as_ref(), strategy, &[]).map(|a| a.id.clone()),
            None => None,
        })
    }
}

impl Tier {
    fn new(agents: Vec<Arc<Agent>>) -> Self {
        let mut total = 0u64;
        let ends = agents
            .iter()
            .map(|agent| {
                total = total.saturating_add(agent.weight);
                total
            })
            .collect();
        Tier { agents: agents.into_boxed_slice(), ends, total, stride: stride_for(total) }
    }

    fn pick(&self, ticket: u64) -> &Arc<Agent> {
        let slot = spread_slot(ticket, self.total, self.stride);
        let index = self.ends.partition_point(|&end| end <= slot);
        // `slot < total == ends.last()`, so the index is always in range.
        &self.agents[index.min(self.agents.len() - 1)]
    }
}

/// Maps a ticket onto a slot in `0..total`; with `stride` coprime to `total`, any `total`
/// consecutive tickets cover every slot once, and neighbouring tickets land far apart (so a heavy
/// agent's turns are interleaved with the others' rather than served in one burst).
fn spread_slot(ticket: u64, total: u64, stride: u64) -> u64 {
    if total <= 1 {
        return 0;
    }
    (u128::from(ticket % total) * u128::from(stride) % u128::from(total)) as u64
}

/// A step close to `total / φ` that is coprime to `total`.
fn stride_for(total: u64) -> u64 {
    if total <= 2 {
        return 1;
    }
    let mut stride = ((total as f64) * 0.618_033_988_75) as u64;
    stride = stride.clamp(1, total - 1);
    while gcd(stride, total) != 1 {
        stride += 1;
    }
    stride
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn least_loaded<'a>(agents: impl Iterator<Item = &'a Arc<Agent>>) -> Option<&'a Arc<Agent>> {
    let mut best: Option<(&Arc<Agent>, u64)> = None;
    for agent in agents {
        let load = agent.load.load(Ordering::Relaxed);
        // load_a / weight_a < load_b / weight_b, compared exactly; agents come sorted by id, so
        // keeping the first of equals breaks ties by the smallest id.
        let better = match best {
            None => true,
            Some((current, current_load)) => {
                u128::from(load) * u128::from(current.weight) < u128::from(current_load) * u128::from(agent.weight)
            }
        };
        if better {
            best = Some((agent, load));
        }
    }
    best.map(|(agent, _)| agent)
}

fn check_capability(capability: &str, path: &str) -> Result<()> {
    if capability.is_empty() {
        return Err(Error::validation(path, "capability must not be empty"));
    }
    Ok(())
}

fn check_load(load: i64, path: &str) -> Result<u64> {
    u64::try_from(load).map_err(|_| Error::validation(path, format!("load must not be negative, got {load}")))
}

/// The writer's working copy of a snapshot.
struct Draft {
    agents: HashMap<Arc<str>, Arc<Agent>>,
    rules: Vec<Arc<Rule>>,
}

impl Draft {
    /// Validates `spec` into an agent; an existing agent of the same id keeps its load cell, so
    /// concurrent load updates on the previous snapshot are not lost.
    fn agent(&self, spec: AgentSpec, path: &str) -> Result<Arc<Agent>> {
        if spec.id.is_empty() {
            return Err(Error::validation(format!("{path}agent_id"), "agent id must not be empty"));
        }
        let weight = u64::try_from(spec.weight).ok().filter(|&w| w >= 1).ok_or_else(|| {
            Error::validation(format!("{path}weight"), format!("weight must be >= 1, got {}", spec.weight))
        })?;
        let load = spec.load.map(|l| check_load(l, &format!("{path}load"))).transpose()?;
        let mut capabilities: Vec<Arc<str>> = Vec::with_capacity(spec.capabilities.len());
        for (i, capability) in spec.capabilities.iter().enumerate() {
            check_capability(capability, &format!("{path}capabilities[{i}]"))?;
            capabilities.push(Arc::from(capability.as_str()));
        }
        capabilities.sort();
        capabilities.dedup();
        let cell = match self.agents.get(spec.id.as_str()) {
            Some(existing) => existing.load.clone(),
            None => Arc::new(AtomicU64::new(0)),
        };
        if let Some(load) = load {
            cell.store(load, Ordering::Relaxed);
        }
        Ok(Arc::new(Agent {
            id: Arc::from(spec.id),
            capabilities: capabilities.into_boxed_slice(),
            priority: spec.priority,
            weight,
            load: cell,
        }))
    }
}

/// A routing table shared by any number of reader and writer threads.
#[derive(Debug)]
pub struct RoutingTable {
    current: ArcSwap<Snapshot>,
    writer: Mutex<()>,
    capability_attribute: String,
}

impl Default for RoutingTable {
    fn default() -> Self {
        RoutingTable {
            current: ArcSwap::from_pointee(Snapshot::default()),
            writer: Mutex::new(()),
            capability_attribute: DEFAULT_CAPABILITY_ATTRIBUTE.to_owned(),
        }
    }
}

impl RoutingTable {
    /// `capability_attribute` names the attribute `route_message` falls back to.
    pub fn new(capability_attribute: &str) -> Result<Self> {
        check_attribute_name(capability_attribute, "capability_attribute")?;
        Ok(RoutingTable { capability_attribute: capability_attribute.to_owned(), ..Self::default() })
    }

    pub fn capability_attribute(&self) -> &str {
        &self.capability_attribute
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        // The mutex only orders writers; the data lives in the snapshot, so a poisoned lock is harmless.
        self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn update<T>(&self, change: impl FnOnce(&mut Draft) -> Result<T>) -> Result<T> {
        let _writer = self.lock();
        let previous = self.current.load_full();
        let mut draft = Draft { agents: previous.agents.clone(), rules: previous.rules.clone() };
        let out = change(&mut draft)?;
        self.current.store(Arc::new(Snapshot::build(draft.agents, draft.rules, &previous)));
        Ok(out)
    }

    /// Adds an agent or replaces the one with the same id.
    pub fn upsert_agent(&self, spec: AgentSpec) -> Result<()> {
        self.update(|draft| {
            let agent = draft.agent(spec, "")?;
            draft.agents.insert(agent.id.clone(), agent);
            Ok(())
        })
    }

    /// Adds or replaces several agents in one swap: readers see all of them or none.
    pub fn upsert_agents(&self, specs: Vec<AgentSpec>) -> Result<()> {
        self.update(|draft| {
            for (i, spec) in specs.into_iter().enumerate() {
                let agent = draft.agent(spec, &format!("agents[{i}]."))?;
                draft.agents.insert(agent.id.clone(), agent);
            }
            Ok(())
        })
    }

    /// Replaces the whole set of agents in one swap (rules are kept).
    pub fn replace_agents(&self, specs: Vec<AgentSpec>) -> Result<()> {
        self.update(|draft| {
            let mut next = HashMap::with_capacity(specs.len());
            for (i, spec) in specs.into_iter().enumerate() {
                let agent = draft.agent(spec, &format!("agents[{i}]."))?;
                next.insert(agent.id.clone(), agent);
            }
            draft.agents = next;
            Ok(())
        })
    }

    /// Removes an agent; `false` if it was not there.
    pub fn remove_agent(&self, id: &str) -> bool {
        let removed = self.update(|draft| Ok(draft.agents.remove(id).is_some()));
        matches!(removed, Ok(true))
    }

    /// Sets an agent's in-flight load; `false` if the agent is unknown.
    pub fn set_load(&self, id: &str, load: i64) -> Result<bool> {
        let load = check_load(load, "load")?;
        let snapshot = self.current.load();
        Ok(match snapshot.agents.get(id) {
            Some(agent) => {
                agent.load.store(load, Ordering::Relaxed);
                true
            }
            None => false,
        })
    }

    /// Adds `delta` to an agent's load atomically and returns the new load; `None` if the agent is
    /// unknown. A load can not go below zero.
    pub fn add_load(&self, id: &str, delta: i64) -> Result<Option<u64>> {
        let snapshot = self.current.load();
        let Some(agent) = snapshot.agents.get(id) else {
            return Ok(None);
        };
        let mut current = agent.load.load(Ordering::Relaxed);
        loop {
            let next = current.checked_add_signed(delta).ok_or_else(|| {
                Error::validation("delta", format!("load {current} + {delta} is out of range (0 ..= 2^64-1)"))
            })?;
            match agent.load.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Ok(Some(next)),
                Err(actual) => current = actual,
            }
        }
    }

    pub fn load_of(&self, id: &str) -> Option<u64> {
        self.current.load().agents.get(id).map(|agent| agent.load.load(Ordering::Relaxed))
    }

    pub fn agent(&self, id: &str) -> Option<AgentInfo> {
        self.current.load().agents.get(id).map(|agent| agent.info())
    }

    /// Every agent, sorted by id.
    pub fn agents(&self) -> Vec<AgentInfo> {
        let snapshot = self.current.load();
        let mut all: Vec<AgentInfo> = snapshot.agents.values().map(|agent| agent.info()).collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    pub fn len(&self) -> usize {
        self.current.load().agents.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ids of the agents offering `capability`, highest priority first, then by id.
    pub fn agents_for(&self, capability: &str) -> Result<Vec<String>> {
        check_capability(capability, "capability")?;
        let snapshot = self.current.load();
        Ok(snapshot.pools.get(capability).map_or_else(Vec::new, |pool| {
            pool.tiers.iter().flat_map(|tier| tier.agents.iter().map(|a| a.id.to_string())).collect()
        }))
    }

    /// The agent that should handle `capability`, or `None` if no eligible agent offers it.
    pub fn route(&self, capability: &str, strategy: Strategy, exclude: &[&str]) -> Result<Option<Arc<str>>> {
        check_capability(capability, "capability")?;
        Ok(self.current.load().route(capability, strategy, exclude).map(|agent| agent.id.clone()))
    }

    /// [`route`](Self::route) for many capabilities against one snapshot.
    pub fn route_many<S: AsRef<str>>(&self, capabilities: &[S], strategy: Strategy) -> Result<Vec<Option<Arc<str>>>> {
        let snapshot = self.current.load();
        capabilities
            .iter()
            .enumerate()
            .map(|(i, capability)| {
                let capability = capability.as_ref();
                if capability.is_empty() {
                    check_capability(capability, &format!("capabilities[{i}]"))?;
                }
                Ok(snapshot.route(capability, strategy, &[]).map(|agent| agent.id.clone()))
            })
            .collect()
    }

    /// Adds a rule at the end, or replaces the rule of the same name where it stands.
    pub fn add_rule(&self, spec: RuleSpec) -> Result<()> {
        let rule = Arc::new(Rule::compile(spec)?);
        self.update(|draft| {
            match draft.rules.iter_mut().find(|r| r.spec.name == rule.spec.name) {
                Some(slot) => *slot = rule,
                None => draft.rules.push(rule),
            }
            Ok(())
        })
    }

    /// Removes a rule; `false` if there was none of that name.
    pub fn remove_rule(&self, name: &str) -> bool {
        let removed = self.update(|draft| {
            let before = draft.rules.len();
            draft.rules.retain(|rule| rule.spec.name != name);
            Ok(draft.rules.len() != before)
        });
        matches!(removed, Ok(true))
    }

    /// The rules, in the order they are tried.
    pub fn rules(&self) -> Vec<RuleSpec> {
        self.current.load().rules.iter().map(|rule| rule.spec.clone()).collect()
    }

    /// Routes a message given by its attributes (`attribute(name)` returns the value if present):
    /// 1. a `targetagent` attribute sends it to that agent only, if known, else nowhere;
    /// 2. otherwise the first rule whose patterns all match and whose target resolves wins
    ///    (a rule whose agent is unknown or whose capability has no agent falls through);
    /// 3. otherwise the capability named by the capability attribute, if present.
    pub fn route_message<F, S>(&self, mut attribute: F, strategy: Strategy) -> Result<Option<Arc<str>>>
    where
        F: FnMut(&str) -> Result<Option<S>>,
        S: AsRef<str>,
    {
        self.current.load().route_message(&mut attribute, strategy, &self.capability_attribute)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashSet};
    use std::thread;
    use std::time::{Duration, Instant};

    fn spec(id: &str, capabilities: &[&str], priority: i64, weight: i64) -> AgentSpec {
        AgentSpec {
            id: id.into(),
            capabilities: capabilities.iter().map(|c| c.to_string()).collect(),
            priority,
            weight,
            load: None,
        }
    }

    fn route(table: &RoutingTable, capability: &str, strategy: Strategy, exclude: &[&str]) -> Option<String> {
        table.route(capability, strategy, exclude).expect("valid capability").map(|id| id.to_string())
    }

    fn counts(table: &RoutingTable, capability: &str, calls: usize) -> BTreeMap<String, usize> {
        let mut seen = BTreeMap::new();
        for _ in 0..calls {
            let id = route(table, capability, Strategy::RoundRobin, &[]).expect("an agent");
            *seen.entry(id).or_default() += 1;
        }
        seen
    }

    #[test]
    fn round_robin_uses_top_tier_by_weight() {
        let table = RoutingTable::default();
        table.upsert_agent(spec("a", &["x"], 1, 1)).unwrap();
        table.upsert_agent(spec("b", &["x"], 1, 3)).unwrap();
        table.upsert_agent(spec("backup", &["x"], 0, 10)).unwrap();
        let seen = counts(&table, "x", 400);
        assert_eq!(seen.get("a"), Some(&100));
        assert_eq!(seen.get("b"), Some(&300));
        assert_eq!(seen.get("backup"), None);
    }

    #[test]
    fn round_robin_interleaves_heavy_agents() {
        let table = RoutingTable::default();
        table.upsert_agent(spec("a", &["x"], 0, 3)).unwrap();
        table.upsert_agent(spec("b", &["x"], 0, 9)).unwrap();
        let picks: Vec<String> = (0..12).map(|_| route(&table, "x", Strategy::RoundRobin, &[]).unwrap()).collect();
        assert_eq!(picks.iter().filter(|id| *id == "a").count(), 3);
        assert!(picks.windows(2).all(|pair| pair != ["a", "a"]), "{picks:?}");
        let longest_b_run = picks.split(|id| id == "a").map(<[String]>::len).max().unwrap();
        assert!(longest_b_run < 9, "{picks:?}");
    }

    #[test]
    fn exclude_falls_to_next_agent_then_lower_tier_then_none() {
        let table = RoutingTable::default();
        table.upsert_agent(spec("a", &["x"], 5, 1)).unwrap();
        table.upsert_agent(spec("b", &["x"], 5, 1)).unwrap();
        table.upsert_agent(spec("c", &["x"], 1, 1)).unwrap();
        for strategy in [Strategy::RoundRobin, Strategy::LeastLoaded] {
            assert_eq!(route(&table, "x", strategy, &["a"]).as_deref(), Some("b"));
            assert_eq!(route(&table, "x", strategy, &["a", "b"]).as_deref(), Some("c"));
            assert_eq!(route(&table, "x", strategy, &["a", "b", "c"]), None);
        }
    }

    #[test]
    fn least_loaded_divides_by_weight_and_breaks_ties_by_id() {
        let table = RoutingTable::default();
        table.upsert_agent(spec("b", &["x"], 0, 1)).unwrap();
        table.upsert_agent(spec("a", &["x"], 0, 1)).unwrap();
        table.upsert_agent(spec("c", &["x"], 0, 4)).unwrap();
        assert_eq!(route(&table, "x", Strategy::LeastLoaded, &[]).as_deref(), Some("a"));
        table.set_load("a", 3).unwrap();
        table.set_load("b", 2).unwrap();
        table.set_load("c", 6).unwrap();
        // 6/4 = 1.5 < 2 < 3
        assert_eq!(route(&table, "x", Strategy::LeastLoaded, &[]).as_deref(), Some("c"));
        table.set_load("c", 8).unwrap();
        // b: 2/1 == c: 8/4, tie goes to the smaller id
        assert_eq!(route(&table, "x", Strategy::LeastLoaded, &[]).as_deref(), Some("b"));
    }

    #[test]
    fn upsert_keeps_load_unless_given_and_remove_is_reported() {
        let table = RoutingTable::default();
        table.upsert_agent(spec("a", &["x"], 0, 1)).unwrap();
        assert_eq!(table.add_load("a", 5).unwrap(), Some(5));
        table.upsert_agent(spec("a", &["x", "y"], 0, 1)).unwrap();
        assert_eq!(table.load_of("a"), Some(5));
        table.upsert_agent(AgentSpec { load: Some(1), ..spec("a", &["y"], 0, 1) }).unwrap();
        assert_eq!(table.load_of("a"), Some(1));
        assert_eq!(table.agents_for("x").unwrap(), Vec::<String>::new());
        assert!(table.remove_agent("a"));
        assert!(!table.remove_agent("a"));
        assert_eq!(table.set_load("a", 1), Ok(false));
        assert_eq!(table.add_load("a", 1), Ok(None));
    }

    #[test]
    fn bad_input_names_the_argument() {
        let table = RoutingTable::default();
        let path = |r: Result<()>| match r {
            Err(Error::Validation { path, .. }) => path,
            other => panic!("expected a validation error, got {other:?}"),
        };
        assert_eq!(path(table.upsert_agent(spec("", &["x"], 0, 1))), "agent_id");
        assert_eq!(path(table.upsert_agent(spec("a", &["x", ""], 0, 1))), "capabilities[1]");
        assert_eq!(path(table.upsert_agent(spec("a", &["x"], 0, 0))), "weight");
        assert_eq!(path(table.upsert_agent(AgentSpec { load: Some(-1), ..spec("a", &["x"], 0, 1) })), "load");
        assert_eq!(path(table.upsert_agents(vec![spec("a", &["x"], 0, 1), spec("b", &[], 0, -2)])), "agents[1].weight");
        assert!(table.is_empty(), "a failed batch changes nothing");
        assert_eq!(path(table.route("", Strategy::RoundRobin, &[]).map(drop)), "capability");
        assert_eq!(path(table.set_load("a", -3).map(drop)), "load");
        assert_eq!(path(Strategy::parse("random").map(drop)), "strategy");
        let rule = |target: &str, key: &str| RuleSpec {
            name: "r".into(),
            matches: vec![(key.into(), "v".into())],
            target: target.into(),
        };
        assert_eq!(path(table.add_rule(rule("agent", "type"))), "target");
        assert_eq!(path(table.add_rule(rule("node:a", "type"))), "target");
        assert_eq!(path(table.add_rule(rule("agent:", "type"))), "target");
        assert_eq!(path(table.add_rule(rule("agent:a", "Type"))), "match.Type");
        assert_eq!(path(RoutingTable::new("").map(drop)), "capability_attribute");
        table.upsert_agent(spec("a", &["x"], 0, 1)).unwrap();
        assert_eq!(path(table.add_load("a", -2).map(drop)), "delta");
        assert_eq!(table.load_of("a"), Some(0));
    }

    #[test]
    fn globs() {
        let cases = [
            ("com.example.*", "com.example.order", true),
            ("com.example.*", "com.example.", true),
            ("com.example.*", "org.example.order", false),
            ("*.order", "com.example.order", true),
            ("*", "", true),
            ("a*b*c", "abc", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxcyyb", false),
            ("ab*ba", "aba", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
        ];
        for (pattern, value, expected) in cases {
            assert_eq!(Pattern::compile(pattern).matches(value), expected, "{pattern} vs {value}");
        }
    }

    fn event<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl FnMut(&str) -> Result<Option<&'a str>> {
        move |name| Ok(pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v))
    }

    #[test]
    fn route_message_order() {
        let table = RoutingTable::default();
        table.upsert_agent(spec("billing-1", &["billing"], 0, 1)).unwrap();
        table.upsert_agent(spec("audit", &["audit"], 0, 1)).unwrap();
        table.upsert_agent(spec("search-1", &["search"], 0, 1)).unwrap();
        let rule = |name: &str, matches: &[(&str, &str)], target: &str| RuleSpec {
            name: name.into(),
            matches: matches.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            target: target.into(),
        };
        table.add_rule(rule("gone", &[("type", "com.acme.invoice.*")], "agent:missing")).unwrap();
        table.add_rule(rule("invoices", &[("type", "com.acme.invoice.*")], "capability:billing")).unwrap();
        table.add_rule(rule("audit", &[("source", "/ledger"), ("type", "*")], "agent:audit")).unwrap();
        let go = |pairs: &[(&str, &str)]| {
            table.route_message(event(pairs), Strategy::RoundRobin).unwrap().map(|id| id.to_string())
        };
        assert_eq!(go(&[("type", "com.acme.invoice.paid")]).as_deref(), Some("billing-1"));
        assert_eq!(go(&[("type", "x"), ("source", "/ledger")]).as_deref(), Some("audit"));
        assert_eq!(go(&[("source", "/ledger")]), None, "a missing attribute never matches");
        assert_eq!(go(&[("type", "x"), ("targetcapability", "search")]).as_deref(), Some("search-1"));
        assert_eq!(go(&[("targetagent", "audit"), ("type", "com.acme.invoice.paid")]).as_deref(), Some("audit"));
        assert_eq!(go(&[("targetagent", "nobody"), ("targetcapability", "search")]), None);
        table.add_rule(rule("gone", &[], "capability:search")).unwrap();
        assert_eq!(table.rules().iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["gone", "invoices", "audit"]);
        assert_eq!(go(&[("type", "anything")]).as_deref(), Some("search-1"), "replaced in place, first");
        assert!(table.remove_rule("gone"));
        assert!(!table.remove_rule("gone"));
    }

    #[test]
    fn strides_are_coprime() {
        for total in 1..500u64 {
            let stride = stride_for(total);
            assert_eq!(gcd(stride, total.max(1)), 1, "total {total}");
            let slots: HashSet<u64> = (0..total).map(|t| spread_slot(t + 7, total, stride)).collect();
            assert_eq!(slots.len() as u64, total);
        }
    }

    const STRESS: Duration = Duration::from_millis(1500);

    #[test]
    fn stress_concurrent_loads_are_not_lost() {
        let table = RoutingTable::default();
        table.upsert_agent(spec("a", &["x"], 0, 1)).unwrap();
        let (threads, increments) = (4, 20_000);
        thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    for _ in 0..increments {
                        table.add_load("a", 1).unwrap();
                    }
                });
            }
            // Re-upserting the agent meanwhile must carry its load cell over.
            s.spawn(|| {
                for i in 0..200 {
                    table.upsert_agent(spec("a", &["x"], i % 3, 1)).unwrap();
                }
            });
        });
        assert_eq!(table.load_of("a"), Some(threads * increments));
    }

    #[test]
    fn stress_concurrent_upserts_never_lose_an_agent() {
        let table = RoutingTable::default();
        let (writers, per_writer) = (4usize, 150i64);
        thread::scope(|s| {
            for w in 0..writers {
                let table = &table;
                s.spawn(move || {
                    for i in 0..per_writer {
                        let id = format!("w{w}-{i}");
                        table.upsert_agent(spec(&id, &["x"], 0, 1)).unwrap();
                        assert_eq!(table.set_load(&id, i), Ok(true));
                    }
                });
            }
            s.spawn(|| {
                for i in 0..per_writer {
                    let _ = table.route("x", Strategy::LeastLoaded, &[]).unwrap();
                    let _ = table.add_load(&format!("w0-{i}"), 0);
                }
            });
        });
        assert_eq!(table.len(), writers * per_writer as usize);
        for w in 0..writers {
            for i in 0..per_writer {
                assert_eq!(table.load_of(&format!("w{w}-{i}")), Some(i as u64));
            }
        }
    }

    #[test]
    fn stress_readers_never_see_a_torn_configuration() {
        let table = RoutingTable::default();
        let first = vec![spec("a1", &["x", "y"], 1, 1), spec("a2", &["x"], 1, 2)];
        let second = vec![spec("b1", &["x"], 2, 1), spec("b2", &["x", "y"], 2, 1), spec("b3", &["x"], 0, 1)];
        let first_ids = ["a1", "a2"].map(String::from).to_vec();
        let second_ids = ["b1", "b2", "b3"].map(String::from).to_vec();
        table.replace_agents(first.clone()).unwrap();
        let deadline = Instant::now() + STRESS;
        thread::scope(|s| {
            s.spawn(|| {
                let mut flip = false;
                while Instant::now() < deadline {
                    table.replace_agents(if flip { first.clone() } else { second.clone() }).unwrap();
                    flip = !flip;
                }
            });
            for _ in 0..2 {
                s.spawn(|| {
                    let mut reads = 0u64;
                    while Instant::now() < deadline {
                        let ids = table.agents_for("x").unwrap();
                        assert!(ids == first_ids || ids == second_ids, "torn read: {ids:?}");
                        let batch = table.route_many(&["x", "y"], Strategy::RoundRobin).unwrap();
                        let x = batch[0].as_deref().unwrap().to_string();
                        let y = batch[1].as_deref().unwrap();
                        let same_config = if first_ids.contains(&x) { y == "a1" } else { y == "b2" };
                        assert!(same_config, "one call saw two configurations: {x} and {y}");
                        reads += 1;
                    }
                    assert!(reads > 0);
                });
            }
        });
    }
}
