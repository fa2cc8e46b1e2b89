"""`tfpix2pix app`: a local web app that runs a trained model on uploaded or drawn images (Gradio)."""
