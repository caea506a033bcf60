"""toymae dashboard: ``streamlit run app.py``.

The entry point only routes: a shared sidebar (model picker) and ``st.navigation`` over ``pages/``.
"""

import streamlit as st

from pages._shared import mark_entry, sidebar_model_picker
from toymae.heap import release_free_memory

st.set_page_config(page_title="toymae · a toy masked autoencoder", page_icon="🧩", layout="wide")

pages = [
    st.Page("pages/reconstruct.py", title="Reconstruct", icon="🧩", default=True),  # served at /
    st.Page("pages/hallucinations.py", title="Hallucinations", icon="👻", url_path="hallucinations"),
    st.Page("pages/representations.py", title="Representations", icon="🧭", url_path="representations"),
    st.Page("pages/train.py", title="Train", icon="🏋️", url_path="train"),
    st.Page("pages/reproduce.py", title="Reproduce", icon="📊", url_path="reproduce"),
]
mark_entry()
sidebar_model_picker()
page = st.navigation(pages)
try:
    page.run()
finally:
    release_free_memory()  # a page's freed intermediates would otherwise stay in this thread's arena
