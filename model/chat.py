"""A prompt in a model's chat format, from the chat template its tokenizer ships (Jinja).

Instruction-tuned models were trained on conversations marked up with special tokens
(SmolLM2: ``<|im_start|>user ... <|im_end|>``); a plain sentence reads to them as the middle
of a document. ``as_chat`` wraps one user message the way the model saw them, with the
assistant's turn opened, so the continuation is the model's answer.
"""

from __future__ import annotations

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from i18n import _


def as_chat(template: str, prompt: str) -> str:
    """``prompt`` as a user's turn in ``template``, followed by an open assistant turn.

    The template runs sandboxed (a checkpoint's template is data, not trusted code); one that
    fails raises ``ValueError`` with Jinja's reason.
    """
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    try:
        return env.from_string(template).render(messages=[{"role": "user", "content": prompt}],
                                                add_generation_prompt=True, bos_token="", eos_token="")
    except TemplateError as exc:
        raise ValueError(_("The model's chat template could not be applied: {reason}").format(reason=exc)) from exc
