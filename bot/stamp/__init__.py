"""The stamp's admin ARM API: the only HTTP to a stamp (MSAL login, requests, poll strategies)."""
