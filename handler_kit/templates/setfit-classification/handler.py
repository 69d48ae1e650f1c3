"""A few-shot text classifier trained with SetFit (sentence-transformers body, sklearn head).

The shape of the guide's SetFit template: ``SetFitModel.from_pretrained(path)`` loads the
fine-tuned MiniLM body and its logistic-regression head (model_head.pkl).
Payload: {"inputs": "a sentence" | ["several", ...]}.
Answer: every label with its score, best first ([[...], [...]] for a list of sentences).
"""

from typing import Any

from setfit import SetFitModel


class EndpointHandler:
    def __init__(self, path=""):
        self.model = SetFitModel.from_pretrained(path)

    def __call__(self, data: dict[str, Any]) -> list:
        inputs = data["inputs"]
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        probabilities = self.model.predict_proba(texts, as_numpy=True)
        answers = [
            sorted(
                (
                    {"label": label, "score": float(p)}
                    for label, p in zip(self.model.labels, row, strict=True)
                ),
                key=lambda item: item["score"],
                reverse=True,
            )
            for row in probabilities
        ]
        return answers[0] if isinstance(inputs, str) else answers
