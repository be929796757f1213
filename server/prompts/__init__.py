"""Chat messages -> prompt token ids: one PromptBuilder protocol (base.py), two implementations
(hf.py: the checkpoint's Jinja chat template; original.py: the original code's conversation
templates, conversations.py), chosen by the model's format in server/model_loader.py."""
