"""Worked examples on real data and real networks, above the analyses they combine.

:mod:`.digits` runs the forum's ideal analysis end to end on scikit-learn's bundled digits: a
ladder of small numpy MLPs (:mod:`.mlp`) pretrained on digits 0-4, fine-tuned on digits 5-9 by
several methods with the ladder harness (:mod:`transferscope.ladders`), each fine-tuning's
knowledge measured with :mod:`transferscope.knowledge`. The layer sits between the report and
the analyses because it combines analyses that may not import each other.
"""
