"""The smallest real demo: load a handler, call it, edit handler.py, reload, call again.

Run with `make demo`. It assembles a model repository from the packaged all-MiniLM-L6-v2 and
the sentence-embeddings handler next to this file, then edits the handler the way a user
would in their editor and reloads it in the same process.
"""

import time
from pathlib import Path

import handler_kit
from handler_kit import HandlerReloadError
from handler_kit.templates import samples

HERE = Path(__file__).parent
SENTENCES = ["I love this phone", "I adore this phone", "The train is late again"]


def main() -> None:
    repo = samples.model_repo(
        HERE.parent / "build" / "demo" / "minilm-embeddings", HERE / "embeddings" / "handler.py"
    )
    started = time.perf_counter()
    handler = handler_kit.load(repo)
    print(f"loaded {repo / 'handler.py'} in {time.perf_counter() - started:.2f} s")
    vectors = handler({"inputs": SENTENCES})
    print(f"call 1: {len(vectors)} embeddings of {len(vectors[0])} numbers")

    source = (repo / "handler.py").read_text()
    edited = source.replace(
        "return torch.nn.functional.normalize(embeddings, dim=1).tolist()",
        "embeddings = torch.nn.functional.normalize(embeddings, dim=1)\n"
        "        similarity = (embeddings @ embeddings.T).tolist()\n"
        "        return {'similarity': [[round(x, 2) for x in row] for row in similarity]}",
    ).replace("-> list[list[float]]", "-> dict[str, Any]")
    (repo / "handler.py").write_text(edited)
    report = handler.reload()
    print(report)
    print(f"call 2: similarity {handler({'inputs': SENTENCES})['similarity'][0]}")

    (repo / "handler.py").write_text(edited.replace("dim=1)\n", "dim=1\n", 1))
    try:
        handler.reload()
    except HandlerReloadError as error:
        print(f"a broken edit is refused:\n{error}")
    print(f"call 3 (last good code): similarity {handler({'inputs': SENTENCES})['similarity'][0]}")

    (repo / "handler.py").write_text(source)
    print(handler.reload())
    print(f"a kernel restart would cost the {handler.load_seconds:.2f} s load again, ", end="")
    print(f"{handler.load_seconds / report.seconds:.0f}x the hot reload")


if __name__ == "__main__":
    main()
