"""The prompts of ``score`` and ``generate``, in versions; the label definitions paraphrase
``docs/labelling_guideline.md``. A stored output's key carries the version and a digest of the exact wording."""

from __future__ import annotations

from dataclasses import dataclass

from callinsights.llm.models import ChatFormat

SYSTEM = "You are a careful analyst of customer-support calls at a health insurer. You answer briefly and exactly."

DEFINITIONS = """Sentiment is how the customer feels over the call, weighing most how they feel at the end:
- positive: clearly pleased, grateful or relieved, more than routine politeness.
- negative: frustrated, angry, annoyed or disappointed, or ends unhappy, even if the problem was fixed.
- neutral: factual, routine politeness only, or mixed with no clear lean.
Outcome is whether anything is still pending after the call:
- resolved: the request was fully handled during the call.
- follow-up: something remains: a callback, a review or escalation, waiting for a decision or documents, a ticket,
  the customer must do something later, or the problem is not solved."""


@dataclass(frozen=True)
class Question:
    """One question asked after the call text about ``task``: its candidate ``answers`` as the model writes them, and
    the project label each stands for."""

    task: str
    text: str
    answers: tuple[str, ...]
    labels: tuple[str, ...]


@dataclass(frozen=True)
class PromptSet:
    """A versioned prompt: the instructions before the call text and the questions scored after it."""

    version: str
    intro: str
    questions: tuple[Question, ...]

    def prefix(self, chat: ChatFormat, text: str, whole_call: bool = False) -> str:
        """Prompt text up to and including the call text, shared by the call's questions (``whole_call``: the text
        is customer and agent, not the customer's side)."""
        intro = self.intro
        if whole_call:
            intro = intro.replace(CUSTOMER_ONLY, WHOLE_CALL)
        user_open = chat.user.split("{0}")[0]
        return chat.system.format(SYSTEM) + user_open + intro + "\n\n" + text.strip() + "\n\n"

    def suffix(self, chat: ChatFormat, question: Question) -> str:
        """Prompt text after the call text for one question, up to where the answer starts."""
        user_close = chat.user.split("{0}")[1]
        return question.text + user_close + "Answer:"


CUSTOMER_ONLY = "everything the customer said during one support call (the agent is not shown)"
WHOLE_CALL = "one whole support call, customer and agent"

SENTIMENT_Q = Question(
    "sentiment",
    "Question: Overall, and especially at the end, how does the customer feel? "
    "Answer with one word: positive, negative or neutral.",
    (" positive", " negative", " neutral"),
    ("positive", "negative", "neutral"),
)
OUTCOME_Q = Question(
    "outcome",
    "Question: After this call, is the customer's issue fully resolved, or is follow-up still needed? "
    "Answer with one word: resolved or follow-up.",
    (" resolved", " follow"),
    ("issue resolved", "follow-up action needed"),
)

PROMPTS: dict[str, PromptSet] = {
    "v1": PromptSet(
        "v1",
        DEFINITIONS + f"\n\nHere is {CUSTOMER_ONLY}:",
        (SENTIMENT_Q, OUTCOME_Q),
    ),
}

DEFAULT_PROMPT = "v1"

#: Prompt for the `generate` method: a strict two-line answer.
GENERATE_INSTRUCTIONS = (DEFINITIONS + f"\n\nRead {CUSTOMER_ONLY}, then answer in exactly two lines:\n"
                         "sentiment: positive|negative|neutral\noutcome: resolved|follow-up")

#: GBNF grammar that constrains llama.cpp to the two-line answer.
GENERATE_GRAMMAR = (
    'root ::= "sentiment: " s "\\noutcome: " o\n'
    's ::= "positive" | "negative" | "neutral"\n'
    'o ::= "resolved" | "follow-up"\n'
)
