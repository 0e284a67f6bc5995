"""The API's bodies as pydantic models: the handlers validate requests with them, build
responses from them, and /openapi.json is generated from them (lucia/openapi.py).

`rest` holds the REST bodies, `a2a` the A2A objects and the JSON-RPC envelope; `base` what
they share. A model's `refusals` give, for each field, the code and words a client is told
when the field is wrong (lucia/validation.py applies them)."""
