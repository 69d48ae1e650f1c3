"""Named entities with character offsets: people, places and organisations.

The shape of the guide's Flair NER template (and of LayoutLM's answers): a token
classification pipeline whose tokens are grouped into entities, each with its type, the text
it covers as written in the input, its score and its start and end offsets.
Payload: {"inputs": "a sentence" | ["several", ...]}.
Answer: [{"entity_group": "PER", "word": "Ines Haddad", "start": 10, "end": 21, "score": 0.99}]
(one list per sentence for a list).
"""

from typing import Any

from transformers import pipeline


class EndpointHandler:
    def __init__(self, path=""):
        self.pipeline = pipeline("token-classification", model=path, aggregation_strategy="simple")

    def __call__(self, data: dict[str, Any]) -> list:
        inputs = data["inputs"]
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        answers = [
            # The tokenizer lower-cases: the word is taken from the input, as written.
            [
                {**entity, "word": text[entity["start"] : entity["end"]]}
                for entity in self.pipeline(text)
            ]
            for text in texts
        ]
        return answers[0] if isinstance(inputs, str) else answers
