"""Every template's card, through a client generated from /openapi.json.

Run by tests/client.sh with the generated package `sharecard_client` on
PYTHONPATH and openapi-python-client installed (its naming rules say which
module and argument an operation and a parameter became).

For each template that the generated `listTemplates` operation returns:
  - calls the generated GET operation of `/cards/{name}.png` with the
    values of the template's example URL (without one, the required
    parameters' schema `examples`), each converted to the type the
    generated signature declares (int, str, or the generated enum), and
    asserts a 200 of `image/png` whose bytes are a PNG of the template's size;
  - calls it again with one integer parameter one past its maximum (a
    percent of 101, say) and asserts the 400 the generated client parses
    into its `Error` model, naming that parameter.
No URL is built here: the generated code builds each request.
"""

import importlib
import inspect
import sys
import types
import typing
import urllib.parse
from enum import Enum

from openapi_python_client.strings import PythonIdentifier

from sharecard_client import Client
from sharecard_client.api.service import get_open_api, list_templates
from sharecard_client.models.error import Error
from sharecard_client.models.templates import Templates
from sharecard_client.types import Unset

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# openapi-python-client's default `field_prefix`, which tests/client.sh keeps.
FIELD_PREFIX = "field_"


def fail(message: str) -> typing.NoReturn:
    print(f"FAIL: {message}")
    sys.exit(1)


def operation(doc: dict, path: str, verb: str):
    """The generated module of the operation at `verb path` in `doc`."""
    op = doc["paths"].get(path, {}).get(verb)
    if op is None:
        fail(f"the document has no {verb.upper()} {path}")
    tag = PythonIdentifier(op["tags"][0], prefix="tag")
    name = PythonIdentifier(op["operationId"], prefix=FIELD_PREFIX)
    module = f"sharecard_client.api.{tag}.{name}"
    try:
        return importlib.import_module(module)
    except ImportError as e:
        fail(f"{verb.upper()} {path} ({op['operationId']}): no generated {module}: {e}")


def value_of(hint, raw: str):
    """`raw` as the type of the generated signature's `hint` (its Unset left out)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        members = [m for m in typing.get_args(hint) if m is not Unset and m is not type(None)]
        if len(members) != 1:
            raise TypeError(f"no single type in {hint}")
        hint = members[0]
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(raw)
    if hint is int:
        return int(raw)
    if hint is str:
        return raw
    raise TypeError(f"unexpected parameter type {hint}")


def arguments(fn, query: list[tuple[str, str]]) -> dict:
    """The generated function's keyword arguments for these query pairs."""
    hints = typing.get_type_hints(fn)
    signature = inspect.signature(fn)
    kwargs = {}
    for name, raw in query:
        arg = PythonIdentifier(name, prefix=FIELD_PREFIX)
        if arg not in signature.parameters:
            fail(f"{fn.__module__}: no argument for the query parameter {name!r} (looked for {arg!r})")
        kwargs[arg] = value_of(hints[arg], raw)
    missing = [
        p.name
        for p in signature.parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.default is p.empty and p.name != "client" and p.name not in kwargs
    ]
    if missing:
        fail(f"{fn.__module__}: required arguments the example does not give: {missing}")
    return kwargs


def png_size(data: bytes) -> tuple[int, int]:
    # The IHDR chunk comes first: width and height, big-endian, at 16 and 20.
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def main() -> None:
    base_url = sys.argv[1]
    sent: list[str] = []

    def record(request):
        sent.append(str(request.url))

    client = Client(
        base_url=base_url,
        timeout=None,
        raise_on_unexpected_status=True,
        httpx_args={"event_hooks": {"request": [record]}},
    )
    with client as client:
        # The document the client was generated from, through the client.
        doc = get_open_api.sync_detailed(client=client)
        if doc.status_code != 200:
            fail(f"/openapi.json: {doc.status_code}")
        doc = doc.parsed.to_dict()

        listing = list_templates.sync(client=client)
        if not isinstance(listing, Templates) or not listing.templates:
            fail(f"/templates: no templates ({listing!r})")
        print(f"{len(listing.templates)} templates: {', '.join(t.name for t in listing.templates)}")

        checked = refused = 0
        for template in listing.templates:
            path = f"/cards/{template.name}.png"
            module = operation(doc, path, "get")
            schemas = template.parameters.to_dict()
            if not isinstance(template.example, Unset):
                example = urllib.parse.urlsplit(template.example)
                query = urllib.parse.parse_qsl(example.query, keep_blank_values=True, strict_parsing=True)
            else:
                # No sample: the required parameters' schema `examples`.
                required = {p["name"] for p in doc["paths"][path]["get"]["parameters"] if p.get("required")}
                query = [(n, str(schemas[n]["examples"][0])) for n in schemas if n in required]
            kwargs = arguments(module.sync_detailed, query)

            sent.clear()
            r = module.sync_detailed(client=client, **kwargs)
            url = sent[-1] if sent else "?"
            media = r.headers.get("content-type", "")
            if r.status_code != 200 or media != "image/png":
                fail(f"{module.__name__}: {url}: {r.status_code} {media}: {r.content[:300]!r}")
            if not r.content.startswith(PNG_SIGNATURE):
                fail(f"{module.__name__}: {url}: not a PNG: {r.content[:16]!r}")
            size = png_size(r.content)
            if size != (template.width, template.height):
                fail(
                    f"{module.__name__}: {url}: {size[0]}×{size[1]}, the template is {template.width}×{template.height}"
                )
            print(
                f"ok   {module.__name__.rsplit('.', 1)[1]}({len(kwargs)} arguments) -> 200 image/png "
                f"{size[0]}×{size[1]}, {len(r.content)} bytes: GET {url}"
            )
            checked += 1

            # One past the limit of an integer parameter given: a percent
            # (101) if there is one, else another of the template's own (a
            # salary), else `scale`, which every card has.
            given = dict(query)
            ints = [
                name
                for name, s in schemas.items()
                if s.get("type") == "integer" and "maximum" in s and name in given
            ]
            ints.sort(key=lambda name: schemas[name]["maximum"] != 100)
            bad = (ints + ["scale"])[0]
            bad_value = schemas[bad]["maximum"] + 1
            arg = PythonIdentifier(bad, prefix=FIELD_PREFIX)
            sent.clear()
            r = module.sync_detailed(client=client, **{**kwargs, arg: bad_value})
            url = sent[-1] if sent else "?"
            if r.status_code != 400 or not isinstance(r.parsed, Error):
                fail(
                    f"{module.__name__}: {url}: {bad}={bad_value} gave {r.status_code}, not a 400 Error: {r.content[:300]!r}"
                )
            error = r.parsed.error
            if error.field != bad:
                fail(f"{module.__name__}: {url}: the 400 names {error.field!r}, not {bad!r}")
            print(
                f"ok   {module.__name__.rsplit('.', 1)[1]}({arg}={bad_value}) -> 400 {error.code.value} "
                f"(field {error.field}): GET {url}"
            )
            refused += 1

    print(f"PASS: {checked} cards and {refused} refusals through the generated client")


if __name__ == "__main__":
    main()
