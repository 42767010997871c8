"""Identifiers ⋈ directory (⋈ device registry) → the subject table: one row per person.

Identity resolution, all as merges and group-bys:

* ``user.id`` and ``user.target.id`` values are directory keys (ids compared stripped, case kept);
* ``device.id`` and ``device.imei`` reach their owner through the device registry (IMEIs compared without
  spaces and hyphens);
* directory accounts with the same normalised email and the same name (case and spacing ignored) are one
  person, kept under the smallest of their ids — the sample directory has people registered twice with the
  same address in different case. Missing values come from the person's other accounts; a person is a minor
  when any of their accounts says so.

Each person gets the union of the data categories, the earliest first and latest last sighting, the sum of
the events (``records``: an event that names two identifiers of the same person counts twice, so the number
is approximate) and the list of identifiers through which they were reached (``"device.imei:3596…"``).
`SubjectBuild.evidence` keeps apart what reached each person through their own account (``user.id``: the
requests made with it) and through others' requests (as a target, through their device), which is what
`subjects.roles` decides roles from. Identifiers that reach nobody are returned with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from breachkit.subjects import schema
from breachkit.subjects.directory import DEVICE_ID, IMEI, OWNER

TIME_DTYPE: Final = schema.TIME_DTYPE
TEXT_COLUMNS: Final = (schema.SUBJECT_ID, schema.EMAIL, schema.NAME, schema.PHONE, schema.LOCALE, schema.COUNTRY,
                       schema.ACCOUNT_TYPE)
USER_FIELDS: Final = ("user.id", "user.target.id")
DEVICE_FIELDS: Final = {"device.id": DEVICE_ID, "device.imei": IMEI}

# unmatched identifiers: the identifier columns but categories, plus why and the device's owner if known
REASON = "reason"
UNMATCHED_COLUMNS: Final = (schema.ID_FIELD, schema.ID_VALUE, schema.ID_RELATION, schema.ID_FIRST_SEEN,
                            schema.ID_LAST_SEEN, schema.ID_EVENTS, REASON, OWNER)
NOT_IN_DIRECTORY = "not_in_directory"
NO_DEVICE_REGISTRY = "no_device_registry"
DEVICE_NOT_IN_REGISTRY = "device_not_in_registry"
OWNER_NOT_IN_DIRECTORY = "owner_not_in_directory"
UNSUPPORTED_FIELD = "unsupported_field"

_PERSON = "_person"


# SubjectBuild.evidence columns (one row per person, in the table's order)
OWN_CATEGORIES = "own_categories"  # exposed by requests made with the person's own account (user.id)
OTHER_CATEGORIES = "other_categories"  # exposed as a target or through the person's device
OWN_RECORDS = "own_records"  # requests made with their account that exposed their data
OTHER_RECORDS = "other_records"  # others' requests that exposed their data
REQUESTS = schema.REQUESTS  # requests made with their account (user.id events)
USED_BY_ACTOR = schema.ID_USED_BY_ACTOR  # of those, successful ones through the scope's actor means
SUCCEEDED = schema.ID_SUCCEEDED  # of those, the ones that succeeded (none: only attempts against the account)
ACCOUNTS = "accounts"  # list: their user.id values that made requests
EVIDENCE_COLUMNS: Final = (OWN_CATEGORIES, OTHER_CATEGORIES, OWN_RECORDS, OTHER_RECORDS, REQUESTS, USED_BY_ACTOR,
                           SUCCEEDED, ACCOUNTS)


@dataclass(frozen=True)
class SubjectBuild:
    table: pd.DataFrame  # schema.SUBJECT_COLUMNS, one row per person, sorted by subject_id
    unmatched: pd.DataFrame  # UNMATCHED_COLUMNS, in identifier order
    merged: int  # people reached through more than one identifier
    evidence: pd.DataFrame | None = None  # EVIDENCE_COLUMNS, aligned with `table`


def build_subject_table(identifiers: pd.DataFrame, directory: pd.DataFrame,
                        devices: pd.DataFrame | None = None) -> SubjectBuild:
    """Join the identifier table (schema.IDENTIFIER_COLUMNS) with a directory frame (`directory.read_directory`;
    at least subject_id and email) and, for device identifiers, a device registry frame (`read_devices`)."""
    _require(identifiers, schema.IDENTIFIER_COLUMNS, "identifier")
    _require(directory, (schema.SUBJECT_ID, schema.EMAIL), "directory")
    if devices is not None:
        _require(devices, (DEVICE_ID, IMEI, OWNER), "device registry")
    ids = identifiers.reset_index(drop=True)
    field = ids[schema.ID_FIELD].astype("str")
    value = pc.utf8_trim_whitespace(_arrow(ids[schema.ID_VALUE]))
    imei = pa.array((field == "device.imei").to_numpy())
    value = pd.Series(pc.if_else(imei, pc.replace_substring_regex(value, r"[\s-]", ""), value), dtype="str")
    is_user, is_device = field.isin(USER_FIELDS), field.isin(list(DEVICE_FIELDS))

    owner = value.where(is_user)
    if devices is not None:
        registry = _registry(devices)
        owner = owner.fillna((field + "\x1f" + value).where(is_device).map(registry))
    # the directory row of each identifier's owner (read_directory's keys are unique; else the first row counts)
    row = _codes(_arrow(owner), _arrow(directory[schema.SUBJECT_ID]))
    known = pd.Series(row >= 0, index=owner.index)

    reason = pd.Series(np.select(
        [~(is_user | is_device), is_user, np.full(len(ids), devices is None), owner.isna()],
        [UNSUPPORTED_FIELD, NOT_IN_DIRECTORY, NO_DEVICE_REGISTRY, DEVICE_NOT_IN_REGISTRY],
        OWNER_NOT_IN_DIRECTORY), dtype="str")
    unmatched = ids.loc[~known, list(UNMATCHED_COLUMNS[:6])].assign(**{
        schema.ID_VALUE: value[~known], REASON: reason[~known], OWNER: owner.where(is_device)[~known]})
    unmatched = unmatched.reset_index(drop=True).astype({REASON: "str", OWNER: "str"})

    hit = np.flatnonzero(known.to_numpy())
    accounts, account_person = _persons(directory, row[hit])
    person = account_person.take(pc.index_in(_arrow(owner.iloc[hit]), _arrow(accounts[schema.SUBJECT_ID])))
    people_ids = pc.unique(person)
    people_ids = people_ids.take(pc.sort_indices(people_ids))
    codes = _codes(person, people_ids)
    rows = ids.iloc[hit].reset_index(drop=True)
    table = pd.DataFrame({
        schema.SUBJECT_ID: pd.Series(people_ids.to_pylist(), dtype="str"),
        schema.FIRST_SEEN: rows[schema.ID_FIRST_SEEN].groupby(codes).min(),
        schema.LAST_SEEN: rows[schema.ID_LAST_SEEN].groupby(codes).max(),
        schema.RECORDS: rows[schema.ID_EVENTS].groupby(codes).sum(),
    })
    items = pc.binary_join_element_wise(_arrow(field.iloc[hit]), _arrow(value.iloc[hit]), ":")
    table[schema.IDENTIFIERS], reached_through = _lists(codes, items, len(table))
    categories = pa.array(rows[schema.ID_CATEGORIES], type=pa.list_(pa.string()), from_pandas=True)
    parents = np.asarray(pc.list_parent_indices(categories).to_numpy(), dtype=np.int64)
    flat = pc.list_flatten(categories)
    table[schema.CATEGORIES], _ = _lists(codes[parents], flat, len(table))
    table = table.join(_attributes(accounts, _codes(account_person, people_ids)))
    own = (rows[schema.ID_FIELD] == "user.id").to_numpy()
    evidence = pd.DataFrame(index=table.index)
    evidence[OWN_CATEGORIES], _ = _lists(codes[parents][own[parents]], flat.filter(pa.array(own[parents])), len(table))
    evidence[OTHER_CATEGORIES], _ = _lists(codes[parents][~own[parents]], flat.filter(pa.array(~own[parents])),
                                           len(table))
    exposing = _column(rows, schema.ID_EXPOSING, _exposing_default(rows))
    evidence[OWN_RECORDS] = _per_person(exposing.where(own, 0), codes, len(table))
    evidence[OTHER_RECORDS] = _per_person(exposing.where(~own, 0), codes, len(table))
    evidence[REQUESTS] = _per_person(rows[schema.ID_EVENTS].where(own, 0), codes, len(table))
    evidence[USED_BY_ACTOR] = _per_person(_column(rows, schema.ID_USED_BY_ACTOR, 0).where(own, 0), codes, len(table))
    evidence[SUCCEEDED] = _per_person(_column(rows, schema.ID_SUCCEEDED, _exposing_default(rows)).where(own, 0), codes,
                                      len(table))
    evidence[ACCOUNTS], _ = _lists(codes[own], _arrow(rows[schema.ID_VALUE].astype("str").str.strip()[own]), len(table))
    return SubjectBuild(_conform(table, lists=False), unmatched, int((reached_through > 1).sum()),
                        evidence.reset_index(drop=True))


def _column(rows: pd.DataFrame, name: str, default: pd.Series | int) -> pd.Series:
    """An identifier column that frames built before it existed may lack (or hold NaN in): `default` fills it."""
    fill = default if isinstance(default, pd.Series) else pd.Series(default, index=rows.index)
    if name not in rows.columns:
        return fill.astype("int64")
    return rows[name].where(rows[name].notna(), fill).astype("int64")


def _exposing_default(rows: pd.DataFrame) -> pd.Series:
    """Without an `exposing` count: every event of an identifier that exposed some category."""
    reached = rows[schema.ID_CATEGORIES].map(lambda c: c is not None and len(c) > 0)
    return rows[schema.ID_EVENTS].where(reached, 0)


def _per_person(values: pd.Series, codes: np.ndarray, size: int) -> pd.Series:
    sums = np.bincount(codes, weights=values.to_numpy(dtype=np.float64), minlength=size) if size else np.zeros(0)
    return pd.Series(sums.astype(np.int64))


def _require(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"the {what} frame lacks {', '.join(missing)}")


def _arrow(values: pd.Series) -> pa.Array:
    """A text column as an Arrow string array (missing → null)."""
    array = pa.array(values.astype("str"), type=pa.string(), from_pandas=True)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _codes(values: pa.Array, uniques: pa.Array) -> np.ndarray:
    """Position of each value in `uniques`, -1 where absent."""
    return np.asarray(pc.fill_null(pc.index_in(values, uniques), -1).to_numpy(), dtype=np.int64)


def _isin(values: pd.Series, candidates: pd.Series) -> np.ndarray:
    """`values.isin(candidates)` for text, hashed in Arrow (pandas builds the set value by value); missing → False."""
    found = pc.is_in(_arrow(values), value_set=_arrow(candidates))
    return np.asarray(pc.fill_null(found, False).to_numpy(zero_copy_only=False), dtype=bool)


def _registry(devices: pd.DataFrame) -> pd.Series:
    """"field\\x1fvalue" → owner id, for device ids and IMEIs (first row wins)."""
    parts = []
    for field, column in DEVICE_FIELDS.items():
        rows = devices[[column, OWNER]].dropna()
        parts.append(pd.Series(rows[OWNER].astype("str").str.strip().to_numpy(),
                               index=field + "\x1f" + rows[column].astype("str").str.strip()))
    registry = pd.concat(parts)
    unique: pd.Series = registry[~registry.index.duplicated()]
    return unique


def _persons(directory: pd.DataFrame, rows: np.ndarray) -> tuple[pd.DataFrame, pa.Array]:
    """The accounts that share a person with the reached directory `rows`, and each one's person id (the smallest
    id among the accounts with the same email and name)."""
    direct = np.zeros(len(directory), dtype=bool)
    direct[rows] = True
    accounts = directory[direct | _isin(directory[schema.EMAIL], directory.loc[direct, schema.EMAIL])]
    ids = _arrow(accounts[schema.SUBJECT_ID])
    name = _arrow(accounts[schema.NAME]) if schema.NAME in accounts.columns else pa.nulls(len(ids), pa.string())
    name = pc.fill_null(pc.utf8_trim_whitespace(pc.replace_substring_regex(pc.utf8_lower(name), r"\s+", " ")), "")
    key = pc.binary_join_element_wise(_arrow(accounts[schema.EMAIL]), name, "\x1f")  # null without email
    key = pc.coalesce(key, pc.binary_join_element_wise("\x00", ids, ""))
    smallest = pa.table({"key": key, "id": ids}).group_by("key").aggregate([("id", "min")])
    return accounts, smallest["id_min"].combine_chunks().take(pc.index_in(key, smallest["key"]))


def _attributes(accounts: pd.DataFrame, codes: np.ndarray) -> pd.DataFrame:
    """Contact data per person code: the smallest account id's values, gaps filled from the person's other
    accounts; a minor when any account says so."""
    columns = [c for c in TEXT_COLUMNS[1:] if c in accounts.columns]
    members = accounts[codes >= 0].assign(**{_PERSON: codes[codes >= 0]})
    members = members.sort_values([_PERSON, schema.SUBJECT_ID])
    attributes = members.groupby(_PERSON, sort=True)[columns].first()
    minor = members[schema.MINOR] if schema.MINOR in members.columns else pd.Series(False, index=members.index)
    attributes[schema.MINOR] = minor.fillna(False).astype(bool).groupby(members[_PERSON]).any()
    return attributes


def _lists(codes: np.ndarray, items: pa.Array, size: int) -> tuple[pd.Series, np.ndarray]:
    """Sorted distinct `items` per code 0…size-1 as Python lists (empty list for none), and their lengths."""
    pairs = pa.table({"code": codes, "item": items}).filter(pc.is_valid(items))
    pairs = pairs.sort_by([("code", "ascending"), ("item", "ascending")])
    code = pairs["code"].to_numpy()
    item = pairs["item"].combine_chunks()
    repeat = np.zeros(len(code), dtype=bool)
    if len(code) > 1:
        same = pc.equal(item[1:], item[:-1]).to_numpy(zero_copy_only=False)
        repeat[1:] = (code[1:] == code[:-1]) & np.asarray(same, dtype=bool)
    counts = np.bincount(code[~repeat], minlength=size)
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]), pa.int64())
    lists = pa.LargeListArray.from_arrays(offsets, item.filter(pa.array(~repeat)))
    return pd.Series(lists.to_pylist(), dtype=object), counts


def conform_subject_table(frame: pd.DataFrame, *, lists: bool = True) -> pd.DataFrame:
    """Exactly schema.SUBJECT_COLUMNS with their dtypes: text as ``str`` (missing = NaN), `minor` bool, the list
    columns Python lists of text, times `TIME_DTYPE`, `records` int64; missing optional columns are added empty.
    TypeError when a list column holds something else than lists of text. ``lists=False`` leaves the list
    columns as they are (for callers that convert them with `list_array`)."""
    return _conform(frame, lists=lists)


def _conform(frame: pd.DataFrame, *, lists: bool) -> pd.DataFrame:
    out = pd.DataFrame(index=frame.index)
    for column in schema.SUBJECT_COLUMNS:
        values = frame[column] if column in frame.columns else pd.Series(None, index=frame.index, dtype=object)
        if column in TEXT_COLUMNS:
            out[column] = values.astype("str")
        elif column == schema.MINOR:
            out[column] = values.astype("boolean").fillna(False).astype(bool)
        elif column in schema.LIST_COLUMNS:
            out[column] = pd.Series(list_array(values).to_pylist(), index=frame.index) if lists else values
        elif column in (schema.FIRST_SEEN, schema.LAST_SEEN):
            out[column] = pd.to_datetime(values, utc=True, format="ISO8601").astype(TIME_DTYPE)
        else:  # schema.INT_COLUMNS
            out[column] = values.fillna(0).astype("int64")
    return out.reset_index(drop=True)


def list_array(values: pd.Series) -> pa.Array:
    """A list column as Arrow ``list<string>`` (missing → empty list); TypeError unless lists of text."""
    if values.map(lambda v: isinstance(v, str)).any():  # Arrow would take a string for a list of its characters
        raise TypeError(f"{values.name}: a list column holds text, not lists")
    try:
        array = pa.array(values.astype(object), type=pa.list_(pa.string()), from_pandas=True)
    except (pa.ArrowTypeError, pa.ArrowInvalid) as exc:
        raise TypeError(f"{values.name}: a list column must hold lists of text ({exc})") from None
    return pc.fill_null(array, pa.scalar([], pa.list_(pa.string())))


TAKEN_OVER = "credentials"  # without roles: an account whose credentials were used (the category marks it)


def at_risk_in_taken_over_accounts(table: pd.DataFrame, directory: pd.DataFrame) -> pd.DataFrame:
    """Add the data categories the directory says each person's account holds (`categories_held`) to the
    compromised accounts (role ``compromised_account``; in a table without roles, the people whose credentials
    were used): whoever used the account could read all of it, so its holder is a data subject for that data."""
    if "categories_held" not in directory.columns or table.empty:
        return table
    held = directory.set_index(schema.SUBJECT_ID)["categories_held"].dropna()
    held = held[~held.index.duplicated()].str.split(schema.LIST_SEPARATOR)
    extra = table[schema.SUBJECT_ID].map(held)
    if schema.ROLES in table.columns:
        taken = table[schema.ROLES].map(lambda r: "compromised_account" in list(r)) & extra.notna()
    else:
        taken = table[schema.CATEGORIES].map(lambda c: TAKEN_OVER in c) & extra.notna()
    if not taken.any():
        return table
    out = table.copy()
    out[schema.CATEGORIES] = [sorted(set(c) | set(e)) if t else c for c, e, t in
                              zip(table[schema.CATEGORIES], extra, taken, strict=True)]
    if schema.ROLES in table.columns:  # the holder's data was within reach: a data subject too
        out[schema.ROLES] = [sorted(set(r) | {"data_subject"}) if t else r for r, t in
                             zip(table[schema.ROLES], taken, strict=True)]
    return out
