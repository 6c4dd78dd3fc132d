module temporal-lock-service/lockclient

go 1.21
