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


def test_axon_and_myelin_keep_their_colours_at_any_index():
    red, blue, yellow = default_colour(1), default_colour(2), default_colour(3)
    for names in (("background", "axon", "myelin"), ("background", "myelin", "axon")):
        t = ClassTable(names)
        assert t.colours[t.index_of("axon")] == red and t.colours[t.index_of("myelin")] == blue
    # another class never shares theirs; tables without them keep the colours by index
    assert ClassTable(("background", "myelin", "node")).colours[1:] == (blue, red)
    assert ClassTable(("background", "node", "axon", "myelin")).colours[1:] == (yellow, red, blue)
    assert ClassTable(("background", "wall", "sky")).colours[1:] == (red, blue)
    # appended classes too, and an appended named class whose colour is taken gets a free one
    grown = ClassTable(("background", "axon")).with_names(["myelin", "node"])
    assert grown.colours[1:] == (red, blue, yellow)
    late = ClassTable(("background", "myelin")).with_names(["node", "axon"])
    assert late.colours[1:] == (blue, red, yellow)
    # a manifest that gives no colours reads with the same rule
    read = ClassTable.from_json([{"index": 0, "name": "background"}, {"index": 1, "name": "myelin"},
                                 {"index": 2, "name": "axon", "color": "#00ff00"}])
    assert read.colours[1:] == (blue, (0, 255, 0))
