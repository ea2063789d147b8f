"""The suite tests itself: an independent correct implementation and a catalogue of mutants.

independent.py  a second, differently written implementation of the contract; the whole suite
                must pass against it, so no test leans on the reference's incidental behaviour.
mutants.py      realistic student bugs, each a syntax-level patch of one place of reference/cnn.py,
                naming the function and outputs whose tests must catch it.
effects.py      probes a mutant side by side with the reference: what it changes, and only that.
check.py        `cnnspec mutants`: runs the whole suite against every mutant and shows, as a
                matrix, that each one fails only tests of its own function and output.

Nothing here is collected by pytest: no file name starts with test_.
"""
