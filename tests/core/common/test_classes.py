"""The class table: construction rules, JSON round trip, errors."""

import pytest

from napari_axons.core.common import (
    DEFAULT_TABLE,
    ClassTable,
    ClassTableError,
    default_colour,
    parse_colour,
)


def test_default_table_is_the_seeds_one_class():
    assert DEFAULT_TABLE.names == ("background", "axon")
    assert DEFAULT_TABLE.is_binary
    assert DEFAULT_TABLE.index_of("axon") == 1


def test_from_id2label_keeps_every_index():
    t = ClassTable.from_id2label({"0": "bg", "2": "axon", "1": "myelin", "3": "axon"})
    assert t.names == ("bg", "myelin", "axon", "axon_3")
    assert t.n_foreground == 3 and not t.is_binary


def test_json_round_trip_and_colours():
    t = ClassTable.from_names(["axon", "myelin"])
    js = t.to_json()
    assert js[1] == {"index": 1, "name": "axon", "color": "#ff4040"}
    assert ClassTable.from_json(js, where="m.json") == t


def test_with_names_appends_never_merges():
    t = ClassTable.from_names(["axon"]).with_names(["myelin", "axon", None])
    assert t.names == ("background", "axon", "myelin", "object")


@pytest.mark.parametrize("bad, message", [
    ((("background",),), "at least one class"),
    ((("background", "a", "a"),), "appears twice"),
    ((tuple(["bg"] + [f"c{i}" for i in range(256)]),), "at most 255"),
])
def test_invalid_tables(bad, message):
    with pytest.raises(ClassTableError, match=message):
        ClassTable(*bad)


def test_from_json_names_the_file_and_entry():
    with pytest.raises(ClassTableError, match=r"m.json: classes\[1\] has index 5"):
        ClassTable.from_json([{"index": 0, "name": "bg"}, {"index": 5, "name": "a"}], where="m.json")


def test_unknown_class_lists_known_ones():
    with pytest.raises(ClassTableError, match="unknown class 'nerve'; known classes: axon, myelin"):
        ClassTable.from_names(["axon", "myelin"]).index_of("nerve")


def test_spec_and_colours():
    assert ClassTable.from_spec(" axon , myelin").foreground == ("axon", "myelin")
    with pytest.raises(ClassTableError, match="empty class name"):
        ClassTable.from_spec("axon,,myelin")
    assert parse_colour("#0a0B0c") == (10, 11, 12)
    assert parse_colour(-16711936) == (0, 255, 0)  # QuPath packs ARGB into an int
    assert len({default_colour(i) for i in range(1, 60)}) == 59
    assert len(ClassTable.from_names(["a"]).palette()) == 768
