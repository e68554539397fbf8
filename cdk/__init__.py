"""The AWS CDK app of exact-online-toolkit: the token refresher stack and its reusable construct."""
