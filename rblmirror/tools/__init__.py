"""What operators run on the data: check, scan, coverage (compare) and its HTML report,
the return-code verdicts from the catalogue, selftest of a running server, and the
mail-server snippets. Imports data, dns and mirror; cli wires them to commands."""
