"""The trusted side of each graded topic, one module per topic: ``w<NN>_<topic>.py``.

Each module holds, for its topic: the reference implementations, the known mistakes (what each outputs and
what to tell the student), the hidden cases (registered with :func:`autograder.protocol.case`), and
``fixtures()``, the stored arrays its visible checks read. Modules are found by their names; no list of
them is kept anywhere.
"""
