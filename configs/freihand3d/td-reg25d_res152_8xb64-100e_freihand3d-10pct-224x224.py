# td-reg25d_res152_8xb64-100e_freihand3d-224x224 with the paper's semi-supervised protocol:
# labels of 10 % of the unique training samples (seed 0).
_base_ = ['./td-reg25d_res152_8xb64-100e_freihand3d-224x224.py']

train_dataloader = dict(dataset=dict(label_fraction=0.1, seed=0))
