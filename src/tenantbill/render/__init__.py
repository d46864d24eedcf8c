"""Rendering: invoice PDFs (fpdf2), invoice e-mails, and locale formatting (babel)."""
