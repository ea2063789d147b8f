"""The suite tests itself: an independent correct implementation and a catalogue of mutants.

independent.py  a second, differently written implementation of the contract; the whole suite
                must pass against it, so no test leans on the reference's incidental behaviour.
mutants.py      realistic student bugs as text patches on reference/cnn.py; every one must be
                caught by the tests of the function it breaks (scripts/check_mutants.py).

Nothing here is collected by pytest: no file name starts with test_.
"""
