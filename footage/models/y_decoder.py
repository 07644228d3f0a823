"""Y-decoder: a Y-space vector -> a short caption, run only on what is shown to a user.

The bundled decoder retrieves: it finds the phrases of a bank nearest the vector (the ImageNet classes as
the backbone's Y-encoder embeds them, and the texts a user trained the library on) and composes the best
ones into a sentence: "A tabby cat or an Egyptian cat, with a carton". It is grounded by construction
(every word comes from a phrase near the vector) and costs one (B, D) x (D, P) product. Any object with an
`id` and a `__call__(vectors) -> list[str]` can replace it (Library(decoder=...)), e.g. a hub captioner.
"""

import hashlib
from dataclasses import dataclass

import numpy as np

from footage.models import imagenet

ALTERNATIVE_MARGIN = 0.08  # a phrase of the same kind this close to the best is offered as "or ..."
COMPANION_MARGIN = 0.04  # a phrase of another kind this close is added as "with ..."
MAX_ALTERNATIVES = 1
MAX_COMPANIONS = 1
# A user's own description leads the caption when it is at least this near. Segment vectors are mixtures of
# class texts, so class phrases score 0.7-0.85 on what they show; a user's sentence about the same thing
# scores 0.3-0.6 once trained on (0.36 for "our office cat Miso" on the cat), unrelated ones under 0.2.
USER_PHRASE_MIN = 0.3


@dataclass(frozen=True)
class Phrase:
    text: str  # as it appears in a caption: "a tabby cat"; or a user's sentence
    kind: str | None = None  # what it is a kind of ("domestic cat"): phrases of one kind are alternatives


def article(noun: str) -> str:
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def class_phrase(c: imagenet.ImageNetClass) -> Phrase:
    """The most explicit of a class's everyday names: "tabby cat" rather than "tabby"."""
    name = next((lemma for lemma in c.lemmas if lemma.startswith(c.name + " ")), c.name)
    return Phrase(article(name), c.hypernyms[0] if c.hypernyms and c.hypernyms[0] else None)


class PhraseDecoder:
    version = "phrases-v2"  # bump when captions change for the same bank

    def __init__(self, phrases: list[Phrase], vectors: np.ndarray):
        """phrases and their (P, D) unit Y vectors."""
        self.phrases, self.vectors = phrases, vectors
        self.is_class = np.array([p.kind is not None for p in phrases])  # (P,) False: a user's own text
        digest = hashlib.sha1("\n".join(f"{p.text}\t{p.kind}" for p in phrases).encode()).hexdigest()[:12]
        self.id = f"{self.version}:{digest}"

    def __call__(self, vectors: np.ndarray) -> list[str]:
        """(B, D) Y vectors -> B captions."""
        scores = vectors @ self.vectors.T  # (B, P)
        return [self.compose(row) for row in scores]

    def segments(self, frame_sets: list[np.ndarray]) -> list[str]:
        """Segments' per-frame Y vectors [(N_i, D)] -> captions by agreement over the frames: the class phrase
        that is nearest on the most frames leads (a shot is named for what stays in it, not for the mixture
        its mean vector is), the rest is composed from the frames' mean scores."""
        out = []
        for frames in frame_sets:
            scores = frames @ self.vectors.T  # (N, P)
            class_scores = np.where(self.is_class, scores, -np.inf)
            votes = np.bincount(class_scores.argmax(1), minlength=len(self.phrases))  # (P,)
            mean = scores.mean(0)  # (P,)
            leader = int(np.lexsort((mean, votes))[-1])  # most frames, then the best mean score
            mean[leader] = max(mean[leader], np.where(self.is_class, mean, -np.inf).max() + 1e-6)
            out.append(self.compose(mean))
        return out

    def compose(self, scores: np.ndarray) -> str:
        """One vector's phrase scores (P,) -> "A tabby cat or an Egyptian cat, with a carton", led by the
        user's nearest own description when there is one near enough ("Our cat Miso: an Egyptian cat")."""
        text = self.compose_classes(np.where(self.is_class, scores, -np.inf))
        user = np.where(self.is_class, -np.inf, scores)
        if len(user) and user.max() >= USER_PHRASE_MIN:
            text = f"{self.phrases[int(user.argmax())].text}: {text[:1].lower() + text[1:]}"
        return text[:1].upper() + text[1:]

    def compose_classes(self, scores: np.ndarray) -> str:
        order = np.argsort(-scores)[:16]
        best = self.phrases[order[0]]
        alternatives, companions = [best.text], []
        for i in order[1:]:
            p, gap = self.phrases[i], scores[order[0]] - scores[i]
            if p.kind is None or p.text in alternatives or p.text in companions:
                continue
            if p.kind == best.kind and gap <= ALTERNATIVE_MARGIN and len(alternatives) <= MAX_ALTERNATIVES:
                alternatives.append(p.text)
            elif p.kind != best.kind and gap <= COMPANION_MARGIN and len(companions) < MAX_COMPANIONS:
                companions.append(p.text)
        text = " or ".join(alternatives)
        if not any(best.kind.split()[-1] in a for a in alternatives):
            text += f" ({best.kind})"  # "an espresso (coffee)": the kind says what an odd name is
        if companions:
            text += ", with " + " and ".join(companions)
        return text
