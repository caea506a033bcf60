"""The dashboard's library side, without Streamlit: views, the model catalog, the training server,
pictures, figures and the tour. Imports the layers below it; nothing imports it but the CLI and pages."""
