"""Knowledge kept, discarded and learned in fine-tuning: Harsanyi interaction analysis.

For a model and an input with ``n`` variables, ``v(T)`` is the model's output (by default the
log-odds of the target class) with the variables outside ``T`` set to a baseline; the Harsanyi
interactions ``I(S) = sum over T subset of S of (-1)**(|S| - |T|) v(T)`` are computed by the fast
Mobius transform. Salient interactions of a pretrained, a fine-tuned and a from-scratch model
are compared: preserved, discarded, newly learned and exclusive knowledge, with
strength-weighted shares and profiles by interaction order.

Modules: :mod:`.transform` (the transform, its inverse, subset helpers; numpy),
:mod:`.value` (value functions of any numpy model), :mod:`.compare` (salience and set kernels;
numpy), :mod:`.result` (tidy tables and the record layout), :mod:`.example` (a worked example
with small numpy networks), :mod:`.matching` (how much of the output the salient interactions
leave unexplained), :mod:`.indices` (Shapley, k-Shapley and Banzhaf interaction indices from the
Mobius coefficients), :mod:`.sampling` (their low orders by sampling, for many variables) and
:mod:`.ladder` (knowledge measured along a checkpoint ladder, against accuracy).
"""

from __future__ import annotations

from transferscope.knowledge.compare import (
    DEFAULT_TAU,
    ROLES,
    SET_NAMES,
    knowledge_sets,
    salient_mask,
    set_shares,
)
from transferscope.knowledge.indices import INDICES, interaction_index, superset_sums
from transferscope.knowledge.ladder import (
    knowledge_correlation,
    knowledge_profile,
    ladder_knowledge,
)
from transferscope.knowledge.matching import comparison_matching, unexplained
from transferscope.knowledge.persist import comparison_from_records, load_knowledge, save_knowledge
from transferscope.knowledge.result import (
    KNOWLEDGE_RECORD_COLUMNS,
    KnowledgeComparison,
    compare_knowledge,
    knowledge_records,
)
from transferscope.knowledge.sampling import (
    SampledIndices,
    low_order,
    sample_indices,
    sparse_game,
    sparse_indices,
)
from transferscope.knowledge.transform import (
    evaluate_subsets,
    interactions,
    naive_interactions,
    subset_mask,
    subset_members,
    subset_order,
    subset_variables,
    values_from_interactions,
)
from transferscope.knowledge.value import (
    AffineInput,
    ModelValue,
    log_odds,
    model_interactions,
    model_value,
)

__all__ = [
    "DEFAULT_TAU",
    "INDICES",
    "KNOWLEDGE_RECORD_COLUMNS",
    "ROLES",
    "SET_NAMES",
    "AffineInput",
    "KnowledgeComparison",
    "ModelValue",
    "SampledIndices",
    "compare_knowledge",
    "comparison_from_records",
    "comparison_matching",
    "evaluate_subsets",
    "interaction_index",
    "interactions",
    "knowledge_correlation",
    "knowledge_profile",
    "knowledge_records",
    "knowledge_sets",
    "ladder_knowledge",
    "load_knowledge",
    "log_odds",
    "low_order",
    "model_interactions",
    "model_value",
    "naive_interactions",
    "salient_mask",
    "sample_indices",
    "save_knowledge",
    "set_shares",
    "sparse_game",
    "sparse_indices",
    "subset_mask",
    "subset_members",
    "subset_order",
    "subset_variables",
    "superset_sums",
    "unexplained",
    "values_from_interactions",
]
