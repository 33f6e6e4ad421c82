//! `RoutingTable`, `RoutingEntry` and `Rule`: conversions around `a2a_core::routing`.

use std::sync::Arc;

use a2a_core::routing::{AgentInfo, AgentSpec, RoutingTable, RuleSpec, Strategy};
use a2a_core::Error;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::errors::{detached, to_py, IntoPyResult};
use crate::strings::cached_str;

/// Strings from any iterable except a bare `str` (which would silently become its characters).
fn strings(value: &Bound<'_, PyAny>, argument: &str) -> PyResult<Vec<String>> {
    let py = value.py();
    if value.is_instance_of::<PyString>() {
        return Err(to_py(py, Error::validation(argument, "expected an iterable of str, got a single str")));
    }
    let items = value.try_iter().map_err(|_| {
        to_py(py, Error::validation(argument, format!("expected an iterable of str, got {}", type_name(value))))
    })?;
    items
        .enumerate()
        .map(|(i, item)| {
            let item = item?;
            item.extract::<String>().map_err(|_| {
                to_py(
                    py,
                    Error::validation(format!("{argument}[{i}]"), format!("expected str, got {}", type_name(&item))),
                )
            })
        })
        .collect()
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value.get_type().name().map_or_else(|_| "?".to_owned(), |name| name.to_string())
}

fn id_to_py(py: Python<'_>, id: Option<Arc<str>>) -> Option<Bound<'_, PyString>> {
    // Answers repeat: the same few ids come back call after call, so they are shared, not allocated.
    id.map(|id| cached_str(py, &id))
}

/// One agent as the routing table holds it: its id, the capabilities it offers, its priority tier, its weight and its in-flight
/// load. Given to `upsert_agents` / `replace_agents` (``load=None`` keeps the current load) and
/// returned by `agents()` / `agent()`.
#[pyclass(module = "a2a_fast._native", name = "RoutingEntry", frozen, eq)]
#[derive(Clone, PartialEq, Eq)]
pub struct PyRoutingEntry {
    #[pyo3(get)]
    agent_id: String,
    capabilities: Vec<String>,
    #[pyo3(get)]
    priority: i64,
    #[pyo3(get)]
    weight: i64,
    #[pyo3(get)]
    load: Option<i64>,
}

#[pymethods]
impl PyRoutingEntry {
    #[new]
    #[pyo3(signature = (agent_id, capabilities, priority = 0, weight = 1, load = None))]
    fn new(
        agent_id: String,
        capabilities: &Bound<'_, PyAny>,
        priority: i64,
        weight: i64,
        load: Option<i64>,
    ) -> PyResult<Self> {
        Ok(PyRoutingEntry { agent_id, capabilities: strings(capabilities, "capabilities")?, priority, weight, load })
    }

    #[getter]
    fn capabilities<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.capabilities)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "RoutingEntry(agent_id={}, capabilities={}, priority={}, weight={}, load={})",
            PyString::new(py, &self.agent_id).repr()?,
            self.capabilities(py)?.repr()?,
            self.priority,
            self.weight,
            self.load.map_or_else(|| "None".to_owned(), |load| load.to_string())
        ))
    }
}

impl PyRoutingEntry {
    fn spec(&self) -> AgentSpec {
        AgentSpec {
            id: self.agent_id.clone(),
            capabilities: self.capabilities.clone(),
            priority: self.priority,
            weight: self.weight,
            load: self.load,
        }
    }

    fn from_info(info: AgentInfo) -> Self {
        PyRoutingEntry {
            agent_id: info.id,
            capabilities: info.capabilities,
            priority: info.priority,
            weight: i64::try_from(info.weight).unwrap_or(i64::MAX),
            load: Some(i64::try_from(info.load).unwrap_or(i64::MAX)),
        }
    }
}

/// A named routing rule as returned by `RoutingTable.rules()`.
#[pyclass(module = "a2a_fast._native", name = "Rule", frozen, eq)]
#[derive(Clone, PartialEq, Eq)]
pub struct PyRule {
    #[pyo3(get)]
    name: String,
    matches: Vec<(String, String)>,
    #[pyo3(get)]
    target: String,
}

#[pymethods]
impl PyRule {
    /// The attribute → pattern dict the rule was added with.
    #[getter(r#match)]
    fn match_<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (attribute, pattern) in &self.matches {
            dict.set_item(attribute, pattern)?;
        }
        Ok(dict)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Rule(name={}, match={}, target={})",
            PyString::new(py, &self.name).repr()?,
            self.match_(py)?.repr()?,
            PyString::new(py, &self.target).repr()?
        ))
    }
}

fn agent_specs(agents: &Bound<'_, PyAny>) -> PyResult<Vec<AgentSpec>> {
    let py = agents.py();
    agents
        .try_iter()?
        .enumerate()
        .map(|(i, item)| {
            let item = item?;
            let agent = item.cast::<PyRoutingEntry>().map_err(|_| {
                to_py(
                    py,
                    Error::validation(
                        format!("agents[{i}]"),
                        format!("expected RoutingEntry, got {}", type_name(&item)),
                    ),
                )
            })?;
            Ok(agent.get().spec())
        })
        .collect()
}

/// A routing table of agents and rules. Reads never lock and always see one whole configuration;
/// see `a2a_fast.routing` for the routing rules.
#[pyclass(module = "a2a_fast._native", name = "RoutingTable", frozen)]
pub struct PyRoutingTable {
    inner: RoutingTable,
}

#[pymethods]
impl PyRoutingTable {
    #[new]
    #[pyo3(signature = (capability_attribute = "targetcapability"))]
    fn new(py: Python<'_>, capability_attribute: &str) -> PyResult<Self> {
        Ok(PyRoutingTable { inner: RoutingTable::new(capability_attribute).into_py_result(py)? })
    }

    /// The attribute `route_message` reads a fallback capability from.
    #[getter]
    fn capability_attribute(&self) -> &str {
        self.inner.capability_attribute()
    }

    /// Adds an agent or replaces the one with the same id; `load=None` keeps its current load.
    #[pyo3(signature = (agent_id, capabilities, priority = 0, weight = 1, load = None))]
    fn upsert_agent(
        &self,
        py: Python<'_>,
        agent_id: String,
        capabilities: &Bound<'_, PyAny>,
        priority: i64,
        weight: i64,
        load: Option<i64>,
    ) -> PyResult<()> {
        let capabilities = strings(capabilities, "capabilities")?;
        self.inner.upsert_agent(AgentSpec { id: agent_id, capabilities, priority, weight, load }).into_py_result(py)
    }

    /// Adds or replaces several agents at once: readers see all of them or none.
    fn upsert_agents(&self, py: Python<'_>, agents: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.upsert_agents(agent_specs(agents)?).into_py_result(py)
    }

    /// Replaces every agent at once (rules are kept): readers see the old set or the new one.
    fn replace_agents(&self, py: Python<'_>, agents: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.replace_agents(agent_specs(agents)?).into_py_result(py)
    }

    /// Removes an agent; False if there was none with that id.
    fn remove_agent(&self, agent_id: &str) -> bool {
        self.inner.remove_agent(agent_id)
    }

    /// Sets an agent's in-flight load; False if the agent is unknown.
    fn set_load(&self, py: Python<'_>, agent_id: &str, load: i64) -> PyResult<bool> {
        self.inner.set_load(agent_id, load).into_py_result(py)
    }

    /// Adds ``delta`` (may be negative) to an agent's load atomically; returns the new load, or
    /// None if the agent is unknown.
    fn add_load(&self, py: Python<'_>, agent_id: &str, delta: i64) -> PyResult<Option<u64>> {
        self.inner.add_load(agent_id, delta).into_py_result(py)
    }

    /// The agent's current load, or None if unknown.
    fn load(&self, agent_id: &str) -> Option<u64> {
        self.inner.load_of(agent_id)
    }

    /// The agent with this id, or None.
    fn agent(&self, agent_id: &str) -> Option<PyRoutingEntry> {
        self.inner.agent(agent_id).map(PyRoutingEntry::from_info)
    }

    /// Every agent, sorted by id.
    fn agents(&self) -> Vec<PyRoutingEntry> {
        self.inner.agents().into_iter().map(PyRoutingEntry::from_info).collect()
    }

    /// Ids of the agents offering ``capability``, highest priority first, then by id.
    fn agents_for(&self, py: Python<'_>, capability: &str) -> PyResult<Vec<String>> {
        self.inner.agents_for(capability).into_py_result(py)
    }

    /// The agent that should handle ``capability``, or None.
    #[pyo3(signature = (capability, strategy = "round_robin", exclude = None))]
    fn route<'py>(
        &self,
        py: Python<'py>,
        capability: &str,
        strategy: &str,
        exclude: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Option<Bound<'py, PyString>>> {
        let strategy = Strategy::parse(strategy).into_py_result(py)?;
        let excluded = match exclude {
            Some(exclude) => strings(exclude, "exclude")?,
            None => Vec::new(),
        };
        let excluded: Vec<&str> = excluded.iter().map(String::as_str).collect();
        Ok(id_to_py(py, self.inner.route(capability, strategy, &excluded).into_py_result(py)?))
    }

    /// ``[route(c, strategy) for c in capabilities]`` against one snapshot of the table.
    #[pyo3(signature = (capabilities, strategy = "round_robin"))]
    fn route_many<'py>(
        &self,
        py: Python<'py>,
        capabilities: &Bound<'py, PyAny>,
        strategy: &str,
    ) -> PyResult<Bound<'py, PyList>> {
        let strategy = Strategy::parse(strategy).into_py_result(py)?;
        if capabilities.is_instance_of::<PyString>() {
            return Err(to_py(py, Error::validation("capabilities", "expected a sequence of str, got a single str")));
        }
        let names: Vec<PyBackedStr> = capabilities.extract().map_err(|_| {
            to_py(
                py,
                Error::validation(
                    "capabilities",
                    format!("expected a sequence of str, got {}", type_name(capabilities)),
                ),
            )
        })?;
        let chosen = detached(py, || self.inner.route_many(&names, strategy))?;
        PyList::new(py, chosen.into_iter().map(|id| id_to_py(py, id)))
    }

    /// Adds a rule at the end (or replaces the rule of the same name where it stands).
    #[pyo3(signature = (name, r#match, target))]
    fn add_rule(&self, py: Python<'_>, name: String, r#match: &Bound<'_, PyAny>, target: String) -> PyResult<()> {
        let items = r#match.call_method0("items").and_then(|items| items.try_iter()).map_err(|_| {
            to_py(py, Error::validation("match", format!("expected a mapping, got {}", type_name(r#match))))
        })?;
        let mut matches = Vec::new();
        for item in items {
            let (attribute, pattern): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item?.extract()?;
            let attribute: String = attribute
                .extract()
                .map_err(|_| to_py(py, Error::validation("match", "attribute names must be str")))?;
            let pattern: String = pattern.extract().map_err(|_| {
                to_py(
                    py,
                    Error::validation(
                        format!("match.{attribute}"),
                        format!("expected str, got {}", type_name(&pattern)),
                    ),
                )
            })?;
            matches.push((attribute, pattern));
        }
        self.inner.add_rule(RuleSpec { name, matches, target }).into_py_result(py)
    }

    /// Removes a rule; False if there was none of that name.
    fn remove_rule(&self, name: &str) -> bool {
        self.inner.remove_rule(name)
    }

    /// The rules in the order they are tried.
    fn rules(&self) -> Vec<PyRule> {
        self.inner
            .rules()
            .into_iter()
            .map(|spec| PyRule { name: spec.name, matches: spec.matches, target: spec.target })
            .collect()
    }

    /// The agent for a message given as a mapping of CloudEvent attributes, or None.
    #[pyo3(signature = (event, strategy = "round_robin"))]
    fn route_message<'py>(
        &self,
        py: Python<'py>,
        event: &Bound<'py, PyAny>,
        strategy: &str,
    ) -> PyResult<Option<Bound<'py, PyString>>> {
        let strategy = Strategy::parse(strategy).into_py_result(py)?;
        let dict = event.cast::<PyDict>().ok();
        let lookup = |name: &str| -> a2a_core::Result<Option<PyBackedStr>> {
            let found = match dict {
                Some(dict) => dict.get_item(name),
                None => event.call_method1("get", (name,)).map(|value| Some(value).filter(|v| !v.is_none())),
            };
            match found {
                Ok(None) => Ok(None),
                Ok(Some(value)) => value.extract::<PyBackedStr>().map(Some).map_err(|_| {
                    Error::validation(format!("event.{name}"), format!("expected str, got {}", type_name(&value)))
                }),
                Err(error) => Err(Error::validation("event", format!("expected a mapping of attributes: {error}"))),
            }
        };
        Ok(id_to_py(py, self.inner.route_message(lookup, strategy).into_py_result(py)?))
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __contains__(&self, agent_id: &str) -> bool {
        self.inner.load_of(agent_id).is_some()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRoutingTable>()?;
    m.add_class::<PyRoutingEntry>()?;
    m.add_class::<PyRule>()?;
    Ok(())
}
