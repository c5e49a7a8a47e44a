"""Room: graph versions — the manifest each version of a graph was compiled with, stored
once per version, so a resume on changed code can say what changed. `protocol`, `memory`,
`sql`, `conformance`."""
