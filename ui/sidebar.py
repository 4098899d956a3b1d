"""The sidebar: model, sentence and display options."""

from __future__ import annotations

import streamlit as st

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
# Models that read something other than English sentences bring their own examples.
MODEL_EXAMPLES = {"translator": DATE_EXAMPLES}


def examples_for(model: str) -> list[str]:
    return MODEL_EXAMPLES.get(model, EXAMPLES)


def switch_examples() -> None:
    """On a model change, a text that was another model's example becomes the new model's first one."""
    ss = st.session_state
    new = examples_for(ss.get("model", ""))
    others = {t for m in ["", *MODEL_EXAMPLES] for t in examples_for(m)} - set(new)
    if not ss.get("text", "").strip() or ss.get("text") in others:
        ss["text"] = new[0]


def render() -> Settings:
    with st.sidebar:
        model_name = st.selectbox("Model", [*MODELS, LOCAL], format_func=lambda k: MODELS.get(k, LOCAL_LABEL),
                                  key="model", on_change=switch_examples)
        if model_name == LOCAL:
            model_name = st.text_input("Checkpoint folder", key="checkpoint_folder",
                                       placeholder="/path/to/a/transformers/checkpoint",
                                       help="A folder with config.json, model.safetensors and tokenizer.json "
                                            "(BERT, RoBERTa, DistilBERT, GPT-2 or T5).").strip()
        example = st.selectbox("Example sentences", examples_for(model_name), index=None,
                               placeholder="Pick an example...", key="example")
        if example and st.session_state.get("_last_example") != example:
            st.session_state["_last_example"] = example
            st.session_state["text"] = example
        # the default comes through session state, where a bookmarked URL may already have put a sentence
        st.session_state.setdefault("text", examples_for(model_name)[0])
        text = st.text_area("Sentence", key="text")
        st.subheader("Display")
        hide_special = st.checkbox("Hide special tokens and renormalise rows", key="hide_special",
                                   help="Drops tokens such as [CLS] and [SEP] (or <s> and </s>), which many heads "
                                        "use as a resting place, and rescales each row to sum to 1 again.")
        combine = st.radio("Heads", ["head", "mean", "max"], horizontal=True, key="combine",
                           format_func={"head": "one head", "mean": "mean of layer", "max": "max of layer"}.get)
        colorscale = st.selectbox("Colour scale", ["Blues", "Viridis", "Magma", "Greys", "YlOrRd"], key="colorscale")
    return Settings(model_name=model_name, text=text, hide_special=hide_special, combine=combine,
                    colorscale=colorscale)
