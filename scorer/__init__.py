"""The scorer's tooling beside the kernel: fit and measure its weights, score prompts.

``native/`` is the kernel alone (arrays in, arrays out, no I/O); everything that reads files
to feed it lives here and ships in the package, as ``freeway router fit|eval`` and
``freeway score``: ``requests`` (the one reading of an OpenAI request body), ``labelled``
(labelled-prompt files), ``fitting`` (the regression), ``quality`` (APGR, CPT and the
baselines), ``cli`` and ``score_lines`` (the commands).
"""
