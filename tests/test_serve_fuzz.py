"""The HTTP API fuzzed from its own OpenAPI document (schemathesis, Hypothesis underneath), at a small size:
no 5xx, every error in the problem shape with the security headers, no traceback in the log. The long run is
bench/fuzz_api.py; select these with `-m fuzz`, or leave them out with `-m "not fuzz"`."""

import os
import shutil
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from footage import Library
from footage.serve.app import create_app
from footage.serve.security import Settings

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
from fuzz_api import fuzz  # noqa: E402

EXAMPLES = int(os.environ.get("FOOTAGE_FUZZ_EXAMPLES", "15"))  # per operation: ~30 s on 2 cores


@pytest.mark.fuzz
def test_the_api_answers_every_generated_request_well(photo_library, capfd, tmp_path):
    import schemathesis

    # a copy: the fuzzer marks moments, trains on them and keeps pictures, and the session's library is shared
    shutil.copytree(photo_library.path, tmp_path / "lib", ignore=shutil.ignore_patterns("write.lock"))
    lib = Library(tmp_path / "lib", backbone=photo_library.backbone)
    app = create_app(lib, Settings(hosts=["*"]))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        video = client.get("/api/v1/videos").json()["videos"][0]["id"]

        def get(url, headers):
            return client.get(url, headers=headers)

        media = [(f"/media/{video}", get), (f"/media/{video}/clip?start=1&end=3", get)]
        tried, failures = fuzz(schema, EXAMPLES, lambda case: case.call(), seed=0, media=media)
    assert tried >= EXAMPLES * 12 and not failures, "\n".join(failures)
    lib.close()
    assert "Traceback" not in capfd.readouterr().err
