"""The DLI side: payload models, request signing, the HTTP client and the demo/fake server."""
