"""Training: the gym model's pretraining, supervised fine-tuning with TRL (SafeCoT), GRPO (later issues)."""
