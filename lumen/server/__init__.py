"""The Tornado application: routes, the WebSocket handler, HTTP endpoints."""
