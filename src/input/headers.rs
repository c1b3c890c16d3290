//! Header matching: which column (or JSON key) feeds which lead field.
//!
//! Names match ignoring case, spaces, `_` and `-`, through a small synonym
//! table (`phone_number`, `mobile`, `tel` → `phoneNumber`, ...); `--map
//! FIELD=COLUMN` overrides it. A field named by `--map` takes only the column
//! `--map` names: a synonym column for it becomes a custom field, so no value
//! is silently dropped. `leadctl_*` columns are leadctl's own annotations and
//! feed nothing. The mapping is computed once per CSV header, and once per
//! distinct JSON key through [`KeyCache`].

use std::collections::HashMap;

use super::InputError;

/// A lead field a column can feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Field {
    Phone,
    FirstName,
    LastName,
    Email,
    ProcessId,
    ProjectId,
    ExternalId,
    LeadId,
}

impl Field {
    pub(super) const ALL: [Field; 8] = [
        Field::Phone,
        Field::FirstName,
        Field::LastName,
        Field::Email,
        Field::ProcessId,
        Field::ProjectId,
        Field::ExternalId,
        Field::LeadId,
    ];

    /// The API's name for the field (what `--map` and messages use).
    pub(super) fn api_name(self) -> &'static str {
        match self {
            Field::Phone => "phoneNumber",
            Field::FirstName => "firstName",
            Field::LastName => "lastName",
            Field::Email => "email",
            Field::ProcessId => "processId",
            Field::ProjectId => "projectId",
            Field::ExternalId => "externalId",
            Field::LeadId => "leadId",
        }
    }

    /// Whether a JSON number is accepted as the field's text: ids and phone
    /// numbers are often exported as numbers; a number is no name or email.
    pub(super) fn accepts_number(self) -> bool {
        !matches!(self, Field::FirstName | Field::LastName | Field::Email)
    }

    pub(super) fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// The field a header name stands for, by the synonym table.
    pub(super) fn from_header(name: &str) -> Option<Field> {
        let field = match normalize(name).as_str() {
            "phone" | "phonenumber" | "mobile" | "tel" => Field::Phone,
            "firstname" | "givenname" => Field::FirstName,
            "lastname" | "surname" => Field::LastName,
            "email" => Field::Email,
            "process" | "processid" => Field::ProcessId,
            "project" | "projectid" => Field::ProjectId,
            "externalid" | "crmid" => Field::ExternalId,
            "leadid" => Field::LeadId,
            _ => return None,
        };
        Some(field)
    }
}

/// What a column feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ColumnRole {
    Field(Field),
    /// A `customFields` entry under the column's name.
    Custom,
    /// A `leadctl_*` column (or a column with an empty name): nothing.
    Ignore,
}

/// `name` lower-cased without spaces, `_` and `-`.
pub(super) fn normalize(name: &str) -> String {
    name.chars().filter(|c| !matches!(c, ' ' | '_' | '-')).flat_map(char::to_lowercase).collect()
}

/// The parsed `--map` entries.
#[derive(Debug, Clone, Default)]
pub(super) struct MapSpec {
    entries: Vec<(Field, String)>,
}

impl MapSpec {
    /// Parses `(FIELD, COLUMN)` pairs; FIELD is an API name (`phoneNumber`)
    /// or any header synonym of it (`phone`).
    pub(super) fn parse(map: &[(String, String)]) -> Result<MapSpec, InputError> {
        let mut entries: Vec<(Field, String)> = Vec::with_capacity(map.len());
        for (field_name, column) in map {
            let bad =
                |problem: String| InputError::BadMap { field: field_name.clone(), column: column.clone(), problem };
            let field = Field::from_header(field_name).ok_or_else(|| {
                let names: Vec<_> = Field::ALL.iter().map(|f| f.api_name()).collect();
                bad(format!("unknown field; the fields are {}", names.join(", ")))
            })?;
            if column.is_empty() {
                return Err(bad("the column name is empty".into()));
            }
            if let Some((_, earlier)) = entries.iter().find(|(f, _)| *f == field) {
                return Err(bad(format!(
                    "{} is already mapped to column \"{earlier}\"; map each field once",
                    field.api_name()
                )));
            }
            entries.push((field, column.clone()));
        }
        Ok(MapSpec { entries })
    }

    fn maps(&self, field: Field) -> bool {
        self.entries.iter().any(|(f, _)| *f == field)
    }

    /// The field `--map` sends `name` to: an exact match first, then one
    /// ignoring case, spaces, `_` and `-`.
    fn field_for(&self, name: &str) -> Option<Field> {
        self.entries
            .iter()
            .find(|(_, c)| c == name)
            .or_else(|| {
                let n = normalize(name);
                self.entries.iter().find(|(_, c)| normalize(c) == n)
            })
            .map(|(f, _)| *f)
    }

    /// The target of one name, `--map` first, ignoring which fields are
    /// already taken (the callers handle "first column wins").
    fn role(&self, name: &str) -> ColumnRole {
        if let Some(field) = self.field_for(name) {
            return ColumnRole::Field(field);
        }
        if crate::vocab::is_leadctl_column(name) || name.is_empty() {
            return ColumnRole::Ignore;
        }
        match Field::from_header(name) {
            Some(field) if !self.maps(field) => ColumnRole::Field(field),
            _ => ColumnRole::Custom,
        }
    }
}

/// The targets of a CSV header, one per column. The first column feeding a
/// field takes it; a later one for the same field becomes a custom field.
/// `--map` entries whose column is absent are an error (`file` names it).
pub(super) fn plan_columns(header: &[String], map: &MapSpec, file: &str) -> Result<Vec<ColumnRole>, InputError> {
    for (field, column) in &map.entries {
        let n = normalize(column);
        if !header.iter().any(|h| h == column || normalize(h) == n) {
            return Err(InputError::BadMap {
                field: field.api_name().to_owned(),
                column: column.clone(),
                problem: format!("{file} has no such column; its columns are: {}", header.join(", ")),
            });
        }
    }
    let mut taken = 0u8;
    let mut plan = Vec::with_capacity(header.len());
    for name in header {
        let target = match map.role(name) {
            ColumnRole::Field(f) if taken & f.bit() != 0 => ColumnRole::Custom,
            ColumnRole::Field(f) => {
                taken |= f.bit();
                ColumnRole::Field(f)
            }
            other => other,
        };
        plan.push(target);
    }
    Ok(plan)
}

/// Per-key targets for JSON objects, computed once per distinct key. The
/// cache stops growing at [`KeyCache::MAX`] keys (a file with random keys
/// must not grow memory); keys beyond it are matched each time.
#[derive(Debug)]
pub(super) struct KeyCache {
    map: MapSpec,
    cache: HashMap<String, ColumnRole>,
}

impl KeyCache {
    const MAX: usize = 4096;

    pub(super) fn new(map: MapSpec) -> KeyCache {
        KeyCache { map, cache: HashMap::new() }
    }

    pub(super) fn role(&mut self, key: &str) -> ColumnRole {
        if let Some(&t) = self.cache.get(key) {
            return t;
        }
        let t = self.map.role(key);
        if self.cache.len() < Self::MAX {
            self.cache.insert(key.to_owned(), t);
        }
        t
    }
}

/// The column of `header` that feeds the API field `api_field`
/// (`phoneNumber`, `processId`, ...), as the readers match it: `--map`
/// pairs first, then the synonym table. For reading leadctl's own output
/// files back (`leadctl ledger import`).
pub fn column_for(header: &[String], map: &[(String, String)], api_field: &str) -> Option<usize> {
    let field = Field::from_header(api_field)?;
    let map = MapSpec::parse(map).ok()?;
    let plan = plan_columns(header, &map, "").ok()?;
    plan.iter().position(|r| *r == ColumnRole::Field(field))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn synonyms_ignore_case_spaces_underscores_and_dashes() {
        for (name, field) in [
            ("Phone", Field::Phone),
            ("phone_number", Field::Phone),
            ("Phone Number", Field::Phone),
            ("MOBILE", Field::Phone),
            ("tel", Field::Phone),
            ("phoneNumber", Field::Phone),
            ("first_name", Field::FirstName),
            ("FirstName", Field::FirstName),
            ("given-name", Field::FirstName),
            ("surname", Field::LastName),
            ("Last Name", Field::LastName),
            ("E-Mail", Field::Email),
            ("process", Field::ProcessId),
            ("Process_ID", Field::ProcessId),
            ("project", Field::ProjectId),
            ("crm_id", Field::ExternalId),
            ("External ID", Field::ExternalId),
            ("lead_id", Field::LeadId),
        ] {
            assert_eq!(Field::from_header(name), Some(field), "{name}");
        }
        assert_eq!(Field::from_header("plan"), None);
        assert_eq!(Field::from_header("telephone"), None);
    }

    #[test]
    fn plan_first_column_wins_and_map_overrides() {
        let header = strings(&["Phone", "mobile", "cell", "leadctl_code", "plan", ""]);
        let plan = plan_columns(&header, &MapSpec::default(), "f.csv").unwrap();
        assert_eq!(
            plan,
            [
                ColumnRole::Field(Field::Phone),
                ColumnRole::Custom,
                ColumnRole::Custom,
                ColumnRole::Ignore,
                ColumnRole::Custom,
                ColumnRole::Ignore
            ]
        );
        let map = MapSpec::parse(&[("phoneNumber".into(), "CELL".into())]).unwrap();
        let plan = plan_columns(&header, &map, "f.csv").unwrap();
        assert_eq!(plan[..3], [ColumnRole::Custom, ColumnRole::Custom, ColumnRole::Field(Field::Phone)]);
    }

    #[test]
    fn bad_map_entries_are_errors() {
        let e = MapSpec::parse(&[("phoneNo".into(), "x".into())]).unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
        let e = MapSpec::parse(&[("phone".into(), "a".into()), ("phoneNumber".into(), "b".into())]).unwrap_err();
        assert!(e.to_string().contains("already mapped"), "{e}");
        let map = MapSpec::parse(&[("email".into(), "mail".into())]).unwrap();
        let e = plan_columns(&strings(&["phone"]), &map, "f.csv").unwrap_err();
        assert!(e.to_string().contains("f.csv has no such column"), "{e}");
    }

    #[test]
    fn key_cache_matches_like_the_header_plan() {
        let map = MapSpec::parse(&[("externalId".into(), "id".into())]).unwrap();
        let mut cache = KeyCache::new(map);
        assert_eq!(cache.role("id"), ColumnRole::Field(Field::ExternalId));
        assert_eq!(cache.role("crm_id"), ColumnRole::Custom);
        assert_eq!(cache.role("leadctl_reason"), ColumnRole::Ignore);
        assert_eq!(cache.role("phone"), ColumnRole::Field(Field::Phone));
        assert_eq!(cache.role("phone"), ColumnRole::Field(Field::Phone));
    }
}
