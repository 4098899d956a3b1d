"""The sidebar: model, sentence (a decoder's prompt and how far to continue it) and display options."""

from __future__ import annotations

import dataclasses

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from i18n import LANGUAGES, N_, _
from model import LoadedModel
from model.capture import MAX_NEW_TOKENS
from model.chat import as_chat
from model.translator import EXAMPLES as DATE_EXAMPLES
from ui.settings import Settings
from ui.state import LOCAL, LOCAL_LABEL, MODELS

EXAMPLES = [
    "The animal didn't cross the street because it was too tired.",
    "The animal didn't cross the street because it was too wide.",
    "The cat sat on the mat.",
    "the cat saw the dog and the bird",
    "She went to the bank to deposit money, then sat on the river bank.",
]
PROMPTS = [
    "The capital of France is",
    "Once upon a time, there was a little robot who",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "注意力机制让模型在处理每个词时关注句子中的其他词。",
    "The animal didn't cross the street because it was too tired. The animal was",
]
# Models that read something other than English sentences bring their own examples.
MODEL_EXAMPLES = {"translator": DATE_EXAMPLES, "smollm2": PROMPTS}
DEFAULT_NEW_TOKENS = 20
COLOURSCALES = ["Blues", "Viridis", "Magma", "Greys", "YlOrRd"]
COMBINE = {"head": N_("one head"), "mean": N_("mean of layer"), "max": N_("max of layer")}


def examples_for(model: str) -> list[str]:
    return MODEL_EXAMPLES.get(model, EXAMPLES)


def switch_examples() -> None:
    """On a model change, a text that was another model's example becomes the new model's first one."""
    ss = st.session_state
    new = examples_for(ss.get("model", ""))
    others = {t for m in ["", *MODEL_EXAMPLES] for t in examples_for(m)} - set(new)
    if not ss.get("text", "").strip() or ss.get("text") in others:
        ss["text"] = new[0]


def render() -> tuple[Settings, DeltaGenerator]:
    """The sidebar's settings, and the place under the text where a decoder's options go (``decoder_options``)."""
    with st.sidebar:
        st.radio("Language / 语言", list(LANGUAGES), format_func=LANGUAGES.get, horizontal=True, key="lang")
        model_name = st.selectbox(_("Model"), [*MODELS, LOCAL], format_func=lambda k: _(MODELS.get(k, LOCAL_LABEL)),
                                  key="model", on_change=switch_examples)
        if model_name == LOCAL:
            model_name = st.text_input(_("Checkpoint folder"), key="checkpoint_folder",
                                       placeholder="/path/to/a/transformers/checkpoint",
                                       help=_("A folder with config.json, model.safetensors and tokenizer.json "
                                              "(BERT, RoBERTa, DistilBERT, GPT-2, T5, Llama, Qwen2 or "
                                              "Mistral).")).strip()
        example = st.selectbox(_("Example sentences"), examples_for(model_name), index=None,
                               placeholder=_("Pick an example..."), key="example")
        if example and st.session_state.get("_last_example") != example:
            st.session_state["_last_example"] = example
            st.session_state["text"] = example
        # the default comes through session state, where a bookmarked URL may already have put a sentence
        st.session_state.setdefault("text", examples_for(model_name)[0])
        text = st.text_area(_("Sentence"), key="text",
                            help=_("For a decoder (SmolLM2), the prompt it reads and continues."))
        decoder_slot = st.container()
        st.subheader(_("Display"))
        hide_special = st.checkbox(_("Hide special tokens and renormalise rows"), key="hide_special",
                                   help=_("Drops tokens such as [CLS] and [SEP] (or <s> and </s>), which many heads "
                                          "use as a resting place, and rescales each row to sum to 1 again."))
        hide_sink = st.checkbox(_("Hide the first token (attention sink) and renormalise rows"), key="hide_sink",
                                help=_("Many heads put much of their attention on the very first token whatever "
                                       "it is (an attention sink: a place to park attention when there is nothing "
                                       "to look at). Hiding it shows how the rest of each row is shared."))
        combine = st.radio(_("Heads"), list(COMBINE), horizontal=True, key="combine",
                           format_func=lambda k: _(COMBINE[k]))
        colorscale = st.selectbox(_("Colour scale"), COLOURSCALES, key="colorscale")
    return Settings(model_name=model_name, text=text, prompt=text, hide_special=hide_special, combine=combine,
                    colorscale=colorscale, hide_sink=hide_sink), decoder_slot


def decoder_options(model: LoadedModel, settings: Settings, slot: DeltaGenerator) -> Settings:
    """For a decoder: continue the prompt for N tokens, and read it as a chat turn, in ``slot``."""
    if model.arch != "decoder":
        return settings
    with slot:
        st.session_state.setdefault("generate", True)
        st.session_state.setdefault("new_tokens", DEFAULT_NEW_TOKENS)
        generate = st.checkbox(_("Continue the text"), key="generate",
                               help=_("The model writes greedily (its most likely token each step) and stops at "
                                      "its end-of-turn token; every view then shows prompt and continuation, "
                                      "the written tokens marked ✎."))
        n = st.number_input(_("Tokens to write (1-{n})").format(n=MAX_NEW_TOKENS), 1, MAX_NEW_TOKENS, key="new_tokens",
                            disabled=not generate)
        chat = False
        if model.chat_template:
            chat = st.checkbox(_("As chat (the model's chat template)"), key="as_chat",
                               help=_("Wraps the prompt as a user's turn in the format the model was "
                                      "instruction-tuned on, so the continuation is its answer."))
    text = as_chat(model.chat_template, settings.prompt) if chat else settings.prompt
    return dataclasses.replace(settings, text=text, chat=chat, max_new_tokens=int(n) if generate else 0)
