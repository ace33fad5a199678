"""Privacy of visitors' data at rest.

- `envelope`: authenticated encryption (AES-GCM data keys wrapped by rotating master keys).

Storing and reading encrypted blobs by storage key is a service (`campaign.services.private_blobs`),
deleting them on time too (`campaign.services.retention`); this package knows nothing of storage or
jobs, so services import it and never the reverse.
"""
