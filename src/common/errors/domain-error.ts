/**
 * Errors the domain layer raises. They know nothing of HTTP or sockets: the HTTP
 * filter and the socket layer each translate a code in one place.
 */
export enum ErrorCode {
  Validation = 'VALIDATION',
  RoomNotFound = 'ROOM_NOT_FOUND',
  UserNotFound = 'USER_NOT_FOUND',
  UsernameTaken = 'USERNAME_TAKEN',
  RateLimited = 'RATE_LIMITED',
  Unauthenticated = 'UNAUTHENTICATED',
  Forbidden = 'FORBIDDEN',
  StorageUnavailable = 'STORAGE_UNAVAILABLE',
}

export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DomainError';
  }

  static validation(message: string): DomainError {
    return new DomainError(ErrorCode.Validation, message);
  }

  static roomNotFound(): DomainError {
    return new DomainError(ErrorCode.RoomNotFound, 'Room not found');
  }

  static userNotFound(): DomainError {
    return new DomainError(ErrorCode.UserNotFound, 'User not found');
  }

  static storageUnavailable(): DomainError {
    return new DomainError(ErrorCode.StorageUnavailable, 'Storage unavailable');
  }
}
