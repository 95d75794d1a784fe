"""System tests: real servers, workers, browsers and tools, the example app, and the project's
own files (the package as built, the documentation, the benchmarks)."""
