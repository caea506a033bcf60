"""toymae dashboard: ``streamlit run app.py``.

The entry point only routes: a shared sidebar (model picker) and ``st.navigation`` over ``pages/``.
"""

import streamlit as st

from pages._shared import mark_entry, sidebar_model_picker
from toymae.heap import release_free_memory

st.set_page_config(
    page_title="toymae · a toy masked autoencoder", page_icon=":material/grid_view:", layout="wide"
)

# Material icons, not emoji: a browser without an emoji font (Debian's Chromium) draws emoji as boxes.
pages = [
    st.Page("pages/reconstruct.py", title="Reconstruct", icon=":material/grid_view:", default=True),  # at /
    st.Page(
        "pages/hallucinations.py", title="Hallucinations", icon=":material/report:", url_path="hallucinations"
    ),
    st.Page(
        "pages/representations.py",
        title="Representations",
        icon=":material/scatter_plot:",
        url_path="representations",
    ),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:", url_path="train"),
    st.Page("pages/reproduce.py", title="Reproduce", icon=":material/table_chart:", url_path="reproduce"),
]
# Less padding than Streamlit's wide layout gives: at a 1366 x 768 window the Reconstruct page's
# controls, its four panels and the verdict must fit on one screen. A style-only st.html takes no space.
st.html("<style>.stMainBlockContainer { padding: 3rem 2rem 4rem 2rem; }</style>")
mark_entry()
sidebar_model_picker()
page = st.navigation(pages)
try:
    page.run()
finally:
    release_free_memory()  # a page's freed intermediates would otherwise stay in this thread's arena
