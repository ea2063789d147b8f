"""cnnspec's golden vectors, shipped as package data: read them with importlib.resources
(`resources.files("cnnspec.golden")`); golden/README.md explains the format."""
