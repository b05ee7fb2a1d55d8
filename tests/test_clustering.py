"""Online story clustering on made-up vectors and texts (no corpus needed)."""

from __future__ import annotations

import json
import pickle
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from pipeline.clustering import (
    ClusterConfig,
    ClusterItem,
    JoinRule,
    NumpyCentroidIndex,
    OnlineClusterer,
    StoryStatus,
    key_terms,
    story_id_for,
)
from pipeline.evaluation.clustering import (
    bcubed_scores,
    evaluate_file,
    load_stream,
    pairwise_scores,
    single_pass_tfidf,
    tfidf_vectors,
)

DIM = 16
T0 = datetime(2025, 5, 19, 8, 0, tzinfo=UTC)
RNG_SEED = 7


def unit(vector: np.ndarray) -> np.ndarray:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def near(direction: int, rng: np.random.Generator, noise: float = 0.15) -> np.ndarray:
    base = np.zeros(DIM)
    base[direction] = 1.0
    return unit(base + noise * rng.standard_normal(DIM))


def two_event_stream() -> list[ClusterItem]:
    """Interleaved reports of a storm in Galveston and an election in Lisbon."""
    rng = np.random.default_rng(RNG_SEED)
    items = []
    for i in range(6):
        items.append(
            ClusterItem(
                id=f"storm-{i}",
                vector=near(0, rng),
                title=f"Hurricane Delia hits Galveston, {3 + i} dead",
                text="Officials in Texas said Hurricane Delia flooded Galveston overnight.",
                published_at=T0 + timedelta(hours=2 * i),
                source=f"outlet-{i % 3}",
            )
        )
        items.append(
            ClusterItem(
                id=f"vote-{i}",
                vector=near(1, rng),
                title="Lisbon votes in snap election called by Prime Minister Costa",
                text="Voters in Portugal went to the polls after the Socialist government fell.",
                published_at=T0 + timedelta(hours=2 * i + 1),
                source=f"outlet-{i % 2}",
            )
        )
    return items


def run(items: list[ClusterItem], config: ClusterConfig | None = None) -> OnlineClusterer:
    clusterer = OnlineClusterer(NumpyCentroidIndex(DIM), config)
    for item in items:
        clusterer.add(item)
    return clusterer


# --- clusterer ------------------------------------------------------------------------------


def test_two_events_make_two_stories() -> None:
    items = two_event_stream()
    clusterer = run(items)
    storm = {clusterer.story_of(i.id) for i in items if i.id.startswith("storm")}
    vote = {clusterer.story_of(i.id) for i in items if i.id.startswith("vote")}
    assert len(storm) == 1 and len(vote) == 1 and storm != vote
    story = clusterer.state.stories[storm.pop()]
    assert story.size == 6 and story.count == 6
    assert story.sources == {"outlet-0", "outlet-1", "outlet-2"}
    assert story.first_seen == T0 and story.last_seen == T0 + timedelta(hours=10)
    assert story.label.startswith("Hurricane Delia")
    assert {"galveston", "delia"} <= set(story.terms)


def test_each_join_is_explained() -> None:
    items = two_event_stream()
    clusterer = OnlineClusterer(NumpyCentroidIndex(DIM))
    first = clusterer.add(items[0])
    clusterer.add(items[1])
    joined = clusterer.add(items[2])
    assert first.rule is JoinRule.NEW_STORY
    assert joined.story_id == first.story_id
    assert joined.rule in (JoinRule.SIMILARITY, JoinRule.TERMS)
    assert joined.similarity > 0.8 and joined.term_overlap > 0
    assert joined.score >= clusterer.config.join_threshold
    assert joined.time_gap == timedelta(hours=2)


def test_syndicated_copy_joins_without_moving_the_centroid() -> None:
    items = two_event_stream()[:4]
    clusterer = run(items)
    story = clusterer.state.stories[clusterer.story_of("storm-0")]
    centroid_before, count_before = story.centroid_sum.copy(), story.count
    # A wire copy whose own vector points elsewhere: it must still follow its original.
    copy_item = ClusterItem(
        id="storm-0-wire",
        vector=near(5, np.random.default_rng(1)),
        title="Hurricane Delia hits Galveston",
        published_at=T0 + timedelta(hours=5),
        source="wire-reprint",
        syndicated_of="storm-0",
    )
    assignment = clusterer.add(copy_item)
    assert assignment.rule is JoinRule.SYNDICATED
    assert assignment.story_id == story.id
    np.testing.assert_array_equal(story.centroid_sum, centroid_before)
    assert story.count == count_before and story.size == count_before + 1
    assert "wire-reprint" in story.sources and "wire-reprint" not in story.independent_sources


def test_dormant_story_is_not_a_candidate() -> None:
    rng = np.random.default_rng(RNG_SEED)
    config = ClusterConfig(dormant_after=timedelta(days=3), merge_every=0)
    clusterer = OnlineClusterer(NumpyCentroidIndex(DIM), config)
    old = clusterer.add(ClusterItem("old", near(0, rng), "Hurricane Delia hits Galveston", "", T0))
    later = T0 + timedelta(days=4)
    same_topic = ClusterItem("late", near(0, rng), "Hurricane Delia hits Galveston", "", later)
    assert clusterer.index.nearest(same_topic.vector, 5, later - config.dormant_after) == []
    fresh = clusterer.add(same_topic)
    assert fresh.rule is JoinRule.NEW_STORY and fresh.story_id != old.story_id
    clusterer.merge_pass()
    assert clusterer.state.stories[old.story_id].state is StoryStatus.DORMANT
    assert clusterer.index.get(old.story_id) is None


def test_merge_pass_records_lineage() -> None:
    rng = np.random.default_rng(RNG_SEED)
    # Joining is switched off (threshold above any cosine) so the two stories stay apart
    # until the merge pass sees their centroids have converged.
    config = ClusterConfig(join_threshold=2.0, merge_threshold=0.8, merge_every=0)
    clusterer = OnlineClusterer(NumpyCentroidIndex(DIM), config)
    base = near(0, rng, noise=0.0)
    first = clusterer.add(ClusterItem("a1", base, "Delia", "", T0))
    second = clusterer.add(
        ClusterItem("b1", unit(base + 0.3 * near(2, rng)), "Delia", "", T0 + timedelta(hours=1))
    )
    clusterer.add(ClusterItem("a2", base, "Delia", "", T0 + timedelta(hours=2)))
    assert first.story_id != second.story_id
    merges = clusterer.merge_pass()
    # a2 started its own story too (joining is off); both younger stories merge into a1's.
    assert {gone for gone, _ in merges} >= {second.story_id}
    gone = clusterer.state.stories[second.story_id]
    assert gone.state is StoryStatus.MERGED
    assert gone.merge is not None and gone.merge.merged_into == first.story_id
    assert gone.merge.at == T0 + timedelta(hours=2) and gone.merge.score >= 0.8
    assert clusterer.story_of("b1") == first.story_id
    kept = clusterer.state.stories[first.story_id]
    assert kept.size == 3 and kept.count == 3
    assert clusterer.index.get(second.story_id) is None


def test_story_ids_are_deterministic() -> None:
    items = two_event_stream()
    first, second = run(items), run(items)
    ids = [first.story_of(i.id) for i in items]
    assert ids == [second.story_of(i.id) for i in items]
    assert first.story_of("storm-0") == story_id_for("storm-0")
    assert first.story_of("vote-0") == story_id_for("vote-0")


def test_resumed_stream_matches_uninterrupted_run() -> None:
    items = two_event_stream()
    config = ClusterConfig(merge_every=5)
    whole = run(items, config)

    head = run(items[:7], config)
    persisted = pickle.dumps(head.state)  # what a caller would store between runs
    resumed = OnlineClusterer(NumpyCentroidIndex(DIM), config, pickle.loads(persisted))
    for item in items[7:]:
        resumed.add(item)

    assert [resumed.story_of(i.id) for i in items] == [whole.story_of(i.id) for i in items]
    assert resumed.state.stories.keys() == whole.state.stories.keys()
    for story_id, story in whole.state.stories.items():
        other = resumed.state.stories[story_id]
        np.testing.assert_allclose(other.centroid_sum, story.centroid_sum)
        assert (other.size, other.state, other.terms) == (story.size, story.state, story.terms)


# --- splitting a story that holds two events ------------------------------------------------

# Joins forced (any score passes) so that both events pile into the first story.
ONE_STORY = ClusterConfig(join_threshold=-10.0, merge_every=0)


def test_a_story_holding_two_events_splits_at_a_check_size() -> None:
    items = two_event_stream()
    clusterer = OnlineClusterer(NumpyCentroidIndex(DIM), ONE_STORY)
    for item in items[:7]:
        clusterer.add(item)
    # At 4 articles each side had 2, under split_min_side: still one story.
    assert len({clusterer.story_of(item.id) for item in items[:7]}) == 1
    clusterer.add(items[7])  # the 8th article: 4 storm reports, 4 election reports
    storm = story_id_for("storm-0")
    storm_ids = [item.id for item in items[:8] if item.id.startswith("storm")]
    vote_ids = [item.id for item in items[:8] if item.id.startswith("vote")]
    assert {clusterer.story_of(i) for i in storm_ids} == {storm}
    (split_off,) = {clusterer.story_of(i) for i in vote_ids}
    assert split_off != storm
    moved = clusterer.take_moves()
    assert moved == dict.fromkeys(sorted(vote_ids), split_off)
    assert clusterer.take_moves() == {}

    child = clusterer.state.stories[split_off]
    assert child.split is not None and child.split.split_from == storm
    assert child.split.at == items[7].published_at and child.split.score >= ONE_STORY.split_margin
    assert child.label == items[1].title and child.size == child.count == 4
    vectors = {item.id: item.vector for item in items}
    np.testing.assert_allclose(child.centroid_sum, np.sum([vectors[i] for i in vote_ids], axis=0), rtol=1e-6)
    assert child.terms["lisbon"] == 4 and "galveston" not in child.terms
    assert child.first_seen == items[1].published_at and child.last_seen == items[7].published_at
    parent = clusterer.state.stories[storm]
    assert parent.size == parent.count == 4 and parent.split is None
    assert "lisbon" not in parent.terms and parent.sources == {"outlet-0", "outlet-1", "outlet-2"}
    # Both are candidates now: the next election report joins the split-off story.
    assert clusterer.add(items[9]).story_id == split_off


def test_a_story_of_one_event_does_not_split() -> None:
    rng = np.random.default_rng(RNG_SEED)
    clusterer = OnlineClusterer(NumpyCentroidIndex(DIM), ONE_STORY)
    for i in range(40):
        clusterer.add(ClusterItem(f"storm-{i}", near(0, rng), "Hurricane Delia", "",
                                  T0 + timedelta(minutes=i)))
    (story,) = clusterer.state.stories.values()
    assert story.size == 40 and clusterer.take_moves() == {}
    # Past the last check size the members are no longer kept.
    assert story.members is None


def test_syndicated_copies_follow_their_original_when_a_story_splits() -> None:
    items = two_event_stream()[:8]
    copy = ClusterItem("vote-0-copy", items[1].vector, items[1].title, items[1].text,
                       items[1].published_at, source="wire", syndicated_of="vote-0")
    clusterer = OnlineClusterer(NumpyCentroidIndex(DIM), ONE_STORY)
    for item in [*items[:2], copy, *items[2:]]:
        clusterer.add(item)
    split_off = clusterer.story_of("vote-0")
    assert split_off != story_id_for("storm-0")
    assert clusterer.story_of("vote-0-copy") == split_off
    child = clusterer.state.stories[split_off]
    assert (child.size, child.count) == (5, 4)
    assert "wire" in child.sources and "wire" not in child.independent_sources


def test_splits_can_be_switched_off() -> None:
    clusterer = run(two_event_stream(), replace(ONE_STORY, split_checks=()))
    assert len(clusterer.state.stories) == 1
    assert next(iter(clusterer.state.stories.values())).members is None


def test_a_stream_resumed_across_a_split_matches_the_uninterrupted_run() -> None:
    items = two_event_stream()
    whole = run(items, ONE_STORY)
    head = run(items[:6], ONE_STORY)
    resumed = OnlineClusterer(NumpyCentroidIndex(DIM), ONE_STORY, pickle.loads(pickle.dumps(head.state)))
    for item in items[6:]:
        resumed.add(item)
    assert len(whole.state.stories) == 2
    assert [resumed.story_of(i.id) for i in items] == [whole.story_of(i.id) for i in items]


# --- index and key terms --------------------------------------------------------------------


def test_numpy_index_orders_filters_and_reuses_rows() -> None:
    rng = np.random.default_rng(RNG_SEED)
    clusterer = run(two_event_stream()[:2])
    index = NumpyCentroidIndex(DIM, capacity=2)
    stories = list(clusterer.state.stories.values())
    for story in stories:
        index.upsert(story)
    storm, vote = stories
    assert [sid for sid, _ in index.nearest(near(0, rng), 2)] == [storm.id, vote.id]
    # The vote story's last article is an hour later than the storm's.
    assert [sid for sid, _ in index.nearest(near(0, rng), 2, vote.last_seen)] == [vote.id]
    index.remove(storm.id)
    assert len(index) == 1 and index.get(storm.id) is None
    index.upsert(replace(storm, id="third"))  # takes the freed row
    index.upsert(replace(storm, id="fourth"))  # grows the matrix past its capacity of 2
    assert {sid for sid, _ in index.nearest(near(0, rng), 5)} == {vote.id, "third", "fourth"}


def test_partitioned_index_finds_what_the_exact_scan_finds() -> None:
    """Past ``exact_limit`` the index probes a few partitions; on clustered centroids (as
    stories are) it returns the exact scan's neighbours, and moves and removals stay exact."""
    rng = np.random.default_rng(RNG_SEED)
    topics = np.stack([unit(v) for v in rng.standard_normal((12, DIM))])
    exact = NumpyCentroidIndex(DIM)
    partitioned = NumpyCentroidIndex(DIM, exact_limit=40, probes=3)
    clusterer = run(two_event_stream()[:1])
    template = next(iter(clusterer.state.stories.values()))
    for number in range(300):
        centroid = topics[number % 12] + 0.1 * rng.standard_normal(DIM)
        story = replace(template, id=f"s{number:03}", centroid_sum=centroid)
        exact.upsert(story)
        partitioned.upsert(story)
    assert partitioned.partitions > 1 and exact.partitions == 1
    queries = [unit(topics[i % 12] + 0.1 * rng.standard_normal(DIM)) for i in range(60)]
    found = [
        len({sid for sid, _ in partitioned.nearest(q, 5)} & {sid for sid, _ in exact.nearest(q, 5)})
        for q in queries
    ]
    assert sum(found) >= 0.9 * 5 * len(queries)  # recall@5

    # A story whose centroid moves to another topic is found there, and only once.
    moved = replace(template, id="s000", centroid_sum=topics[5].astype(np.float64))
    partitioned.upsert(moved)
    assert partitioned.nearest(topics[5], 1)[0][0] == "s000"
    assert len(partitioned) == 300
    partitioned.remove("s000")
    assert "s000" not in {sid for sid, _ in partitioned.nearest(topics[5], 50)}
    assert len(partitioned) == 299 and partitioned.get("s000") is None


def test_key_terms_are_names_and_numbers() -> None:
    terms = key_terms(
        "Putin and Trump talk for two hours",
        "The call lasted 2 hours. Officials in Moscow said the Kremlin welcomed it on Monday.",
    )
    assert {"putin", "trump", "moscow", "kremlin", "2"} <= terms
    # Sentence-initial words, function words and weekdays are not names.
    assert not {"the", "officials", "and", "monday", "hours"} & terms


# --- evaluation -----------------------------------------------------------------------------


def test_pairwise_and_bcubed_on_a_hand_worked_example() -> None:
    truth = ["a", "a", "a", "b", "b"]
    predicted = [1, 1, 2, 2, 2]
    pairwise = pairwise_scores(truth, predicted)
    # Predicted pairs: (0,1) (2,3) (2,4) (3,4) -> 2 correct of 4; true pairs: 3 + 1 = 4.
    assert (pairwise.p, pairwise.r) == (0.5, 0.5)
    bcubed = bcubed_scores(truth, predicted)
    assert bcubed.p == pytest.approx((1 + 1 + 1 / 3 + 2 / 3 + 2 / 3) / 5)
    assert bcubed.r == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 1 + 1) / 5)
    perfect = bcubed_scores(truth, ["x", "x", "x", "y", "y"])
    assert (perfect.p, perfect.r, perfect.f1) == (1.0, 1.0, 1.0)
    singletons = pairwise_scores(truth, [0, 1, 2, 3, 4])
    assert (singletons.p, singletons.r, singletons.f1) == (1.0, 0.0, 0.0)


def test_tfidf_single_pass_separates_two_topics() -> None:
    texts = [
        "hurricane delia floods galveston texas coast",
        "portugal election lisbon socialist government",
        "galveston flooding after hurricane delia",
        "lisbon voters election socialist costa",
    ]
    vectors, dimension = tfidf_vectors(texts)
    assert single_pass_tfidf(vectors, dimension, threshold=0.2) == [0, 1, 0, 1]
    assert single_pass_tfidf(vectors, dimension, threshold=0.99) == [0, 1, 2, 3]


def test_runner_streams_by_date_with_the_real_model(tmp_path) -> None:
    rows = [
        (
            "2025-05-20",
            "storm",
            "Hurricane Delia floods Galveston",
            "Texas officials order evacuations as Hurricane Delia floods Galveston.",
        ),
        (
            "2025-05-19",
            "vote",
            "Portugal votes in snap election",
            "Lisbon: Portuguese voters elect a new parliament after the government fell.",
        ),
        (
            "2025-05-21",
            "storm",
            "Galveston counts damage after Delia",
            "Hurricane Delia left Galveston, Texas, flooded and without power.",
        ),
        (
            "2025-05-20",
            "vote",
            "Portugal's Socialists lose snap election",
            "Portuguese voters in Lisbon and Porto punished the Socialist government.",
        ),
    ]
    path = tmp_path / "stream.jsonl"
    path.write_text(
        "\n".join(
            json.dumps({"doc_id": str(i), "date": d, "story": s, "title": t, "text": x})
            for i, (d, s, t, x) in enumerate(rows)
        ),
        encoding="utf-8",
    )
    assert [doc.id for doc in load_stream(path, "story")] == ["1", "0", "3", "2"]
    result = evaluate_file(path, label_field="story")
    assert result["n_docs"] == 4 and result["n_stories"] == 2
    assert result["bcubed"]["f1"] == 1.0 and result["pairwise"]["f1"] == 1.0
    assert set(result["baseline"]) == {"n_stories", "pairwise", "bcubed"}
