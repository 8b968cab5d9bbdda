"""The shared index conformance suite (``tests/indexes/test_conformance.py``) on PlaidIndex."""

from __future__ import annotations

import pytest

from tests.indexes.cases import Case
from tests.indexes.test_conformance import (  # noqa: F401  (collected here with our case)
    test_concurrent_searches_during_writes,
    test_delete_removes_and_unknown_ids_are_ignored,
    test_filtered_results_match_filtered_brute_force,
    test_filters_apply_before_ranking,
    test_in_memory_index_cannot_save_and_create_refuses_existing,
    test_invalid_input_changes_nothing,
    test_k_larger_than_index_returns_everything,
    test_persistence_round_trip,
    test_readding_an_id_overwrites_vector_and_metadata,
    test_results_match_brute_force,
    test_satisfies_protocol_and_starts_empty,
    test_search_batch_equals_single_searches,
    test_search_returns_k_sorted_hits_with_metadata,
)
from tests.late_interaction.plaid_cases import PLAID_CASE, PLAID_INT8_CASE

pytest.importorskip("faiss")


@pytest.fixture(params=[PLAID_CASE, PLAID_INT8_CASE], ids=lambda c: c.name)
def case(request: pytest.FixtureRequest) -> Case:
    return request.param
