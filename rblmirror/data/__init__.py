"""What the lists hold and how it is kept: addresses and values, the dump formats
(formats/), the compiled IP and name indexes with their snapshot files (index, dataset),
the isolated compile child, and the catalogue of public lists. Imports only the package's
ground (errors, files, config) and the compiled modules (rblmirror._*)."""
