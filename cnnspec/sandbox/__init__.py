"""Running untrusted submissions: a sandboxed worker process and a proxy the tests call instead.

protocol.py  the plain-data wire (JSON headers + .npy arrays, pickles refused)
worker.py    the standalone script that loads a submission and answers calls
sandbox.py   starting a worker: fresh folder, scrubbed environment, limits, bubblewrap
proxy.py     RemoteImplementation: the contract's functions, forwarded to the worker
"""
