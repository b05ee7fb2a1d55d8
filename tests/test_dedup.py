"""Exact and near-duplicate detection on texts written for these tests."""

from __future__ import annotations

import pytest

from pipeline.dedup import (
    SYNDICATION_THRESHOLD,
    SyndicationIndex,
    body_hash,
    normalise_body,
    signature,
    similarity,
)

WIRE_STORY = """\
The regional water authority said on Tuesday it would raise prices by eight percent from
January, blaming a long drought, higher energy costs and repairs to the main reservoir dam.
The increase is the largest in more than a decade and will add about forty euros a year to
the average household bill, according to figures published by the authority.
Officials said the dam, built in 1962, had developed cracks that engineers first noticed
during an inspection in the spring. Repairs are expected to take two years and cost around
120 million euros, part of which will be covered by a loan from the national development bank.
Consumer groups criticised the decision, saying families were already struggling with
higher food and heating costs. "People are being asked to pay for years of neglect," said the
head of the largest consumer association, who called for a public inquiry into maintenance.
The authority's chief executive rejected the criticism and said the company had invested
steadily in its network. She said leaks had been cut by a fifth since 2018 and that the price
rise would be reviewed once the repairs were complete.
Rainfall in the region has been about half the long-term average for three years in a row,
and reservoir levels stood at 41 percent last week, compared with 78 percent a year earlier.
The government is expected to announce emergency measures for farmers later this month.
"""

# The same wire story as a client paper runs it: new first sentence, two sentences
# rewritten, the last paragraph dropped.
SYNDICATED_COPY = """\
Households across the region face a steep rise in their water bills next year.
The regional water authority said on Tuesday it would raise prices by eight percent from
January, blaming a long drought, higher energy costs and repairs to the main reservoir dam.
The increase is the largest in more than a decade and will add about forty euros a year to
the average household bill, according to figures published by the authority.
Officials said the dam, built in 1962, had developed cracks that engineers first noticed
during an inspection in the spring. Repairs should last two years and will cost roughly
120 million euros, some of it paid for with a loan from the national development bank.
Consumer groups criticised the decision, saying families were already struggling with
higher food and heating costs. "People are being asked to pay for years of neglect," said the
head of the largest consumer association, who called for a public inquiry into maintenance.
The authority's chief executive rejected the criticism and said the company had invested
steadily in its network. She said leaks had been reduced by twenty percent since 2018 and the
price rise would be reviewed once the repairs were complete.
"""

# Another outlet's own story about the same event: same facts, names and numbers, own words.
OTHER_OUTLET_STORY = """\
Water will cost eight percent more from January, the regional water authority announced,
in what consumer advocates called the biggest price jump in over ten years. The authority
pointed to three dry years, rising electricity prices and the state of its reservoir dam.
Built in 1962, the dam needs repairs worth some 120 million euros after inspectors found
cracks this spring; the work will take two years. A loan from the national development bank
will cover part of the bill. For a typical household the change means roughly forty euros
more each year. The consumer association demanded an inquiry, arguing that customers were
paying for poor upkeep, while the chief executive insisted investment had never stopped and
pointed to a one-fifth drop in leaks. Reservoirs were 41 percent full last week, against
78 percent twelve months ago, and ministers are preparing help for farmers.
"""

UNRELATED_STORY = """\
The city council approved plans on Monday for a new cycle bridge across the river, linking
the old harbour district with the university campus. Construction will start next autumn
and the bridge, designed by a local architecture firm, should open in two years. Councillors
said the project would cut traffic on the main road bridge, where congestion has worsened
since the campus expanded. Opponents worried about the cost and the loss of mooring space.
"""


def test_normalised_hash_ignores_layout_case_and_punctuation() -> None:
    reflowed = WIRE_STORY.upper().replace("\n", "  ").replace(",", " ,")
    assert normalise_body(reflowed) == normalise_body(WIRE_STORY)
    assert body_hash(reflowed) == body_hash(WIRE_STORY)
    assert body_hash(SYNDICATED_COPY) != body_hash(WIRE_STORY)


def test_signature_is_compact_and_stable() -> None:
    stored = signature(WIRE_STORY)
    assert isinstance(stored, bytes) and len(stored) == 512
    assert stored == signature(WIRE_STORY)
    assert similarity(stored, signature(WIRE_STORY)) == 1.0


def test_threshold_separates_syndicated_copy_from_same_event_coverage() -> None:
    original = signature(WIRE_STORY)
    copy_similarity = similarity(original, signature(SYNDICATED_COPY))
    other_similarity = similarity(original, signature(OTHER_OUTLET_STORY))
    assert copy_similarity >= SYNDICATION_THRESHOLD + 0.1, copy_similarity
    assert other_similarity <= SYNDICATION_THRESHOLD - 0.3, other_similarity


def test_index_returns_earliest_match_and_nothing_for_independent_stories() -> None:
    index = SyndicationIndex([("unrelated", signature(UNRELATED_STORY))])
    index.insert("wire", signature(WIRE_STORY))
    index.insert("client-paper", signature(SYNDICATED_COPY))

    assert index.query(signature(SYNDICATED_COPY)) == "wire"
    assert index.query(signature(WIRE_STORY)) == "wire"
    assert index.query(signature(OTHER_OUTLET_STORY)) is None
    assert index.matches(signature(WIRE_STORY)) == ["wire", "client-paper"]
    assert len(index) == 3


def test_index_rebuilt_from_stored_pairs_answers_the_same() -> None:
    stored = [("wire", signature(WIRE_STORY)), ("other", signature(OTHER_OUTLET_STORY))]
    rebuilt = SyndicationIndex(stored)
    assert rebuilt.query(signature(SYNDICATED_COPY)) == "wire"
    assert rebuilt.query(signature(UNRELATED_STORY)) is None


def test_an_article_extracted_again_is_matched_by_its_new_body_only() -> None:
    index = SyndicationIndex([("wire", signature(WIRE_STORY)), ("other", signature(OTHER_OUTLET_STORY))])
    index.insert("wire", signature(UNRELATED_STORY))  # same id, a new body

    assert index.query(signature(SYNDICATED_COPY)) is None
    assert index.matches(signature(UNRELATED_STORY)) == ["wire"]
    assert len(index) == 2


def test_corrupt_signature_is_rejected() -> None:
    with pytest.raises(ValueError):
        SyndicationIndex([("broken", b"\x00" * 10)])
